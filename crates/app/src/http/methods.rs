//! Wrong methods on known paths: a 405 problem with `Allow`, not a 404.
//!
//! The route macros put the method in a guard on each resource, so actix treats
//! `TRACE /api/v1/wallet/charge` as a path it does not know and calls the app's default
//! service. That service asks [`KnownRoutes`], built from the OpenAPI document the routes
//! were registered with (so it cannot miss one), which methods the path takes. The same
//! table names a route's request body schema for the 422 of a body that is no object.

use actix_web::dev::ResourceDef;
use actix_web::http::header::{ALLOW, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::error::{ApiError, route_not_found};

/// A method a route answers and the schema of its JSON body, if it takes one.
type Answer = (Method, Option<String>);

/// Every route's path pattern and the methods it answers.
pub struct KnownRoutes {
    routes: Vec<(ResourceDef, Vec<Answer>)>,
}

/// The schema name of an operation's JSON body (`ChargeBody` for a
/// `#/components/schemas/ChargeBody` reference).
fn body_schema(op: &utoipa::openapi::path::Operation) -> Option<String> {
    let body = op.request_body.as_ref()?;
    body.content
        .values()
        .find_map(|c| match c.schema.as_ref()? {
            utoipa::openapi::RefOr::Ref(r) => r.ref_location.rsplit('/').next().map(str::to_owned),
            utoipa::openapi::RefOr::T(_) => None,
        })
}

impl KnownRoutes {
    /// The routes of an OpenAPI document (its paths use actix's `{name}` segments).
    pub fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    (Method::GET, &item.get),
                    (Method::PUT, &item.put),
                    (Method::POST, &item.post),
                    (Method::DELETE, &item.delete),
                    (Method::OPTIONS, &item.options),
                    (Method::HEAD, &item.head),
                    (Method::PATCH, &item.patch),
                    (Method::TRACE, &item.trace),
                ]
                .into_iter()
                .filter_map(|(m, op)| op.as_ref().map(|op| (m, body_schema(op))))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        KnownRoutes { routes }
    }

    /// Adds a route the document does not describe (the Swagger UI's).
    #[must_use]
    pub fn with(mut self, pattern: &str, methods: &[Method]) -> Self {
        let answers = methods.iter().map(|m| (m.clone(), None)).collect();
        self.routes.push((ResourceDef::new(pattern), answers));
        self
    }

    /// The schema of the JSON body `method` on `path` takes, if documented.
    pub fn body_schema(&self, path: &str, method: &Method) -> Option<&str> {
        self.routes
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .flat_map(|(_, answers)| answers)
            .find(|(m, _)| m == method)
            .and_then(|(_, schema)| schema.as_deref())
    }

    /// The methods `path` answers, in the order of `Allow`; `None` for an unknown path.
    pub fn allowed(&self, path: &str) -> Option<Vec<Method>> {
        let mut all: Vec<Method> = Vec::new();
        for (def, methods) in &self.routes {
            if def.is_match(path) {
                for (m, _) in methods {
                    if !all.contains(m) {
                        all.push(m.clone());
                    }
                }
            }
        }
        (!all.is_empty()).then(|| {
            all.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            all
        })
    }
}

/// The app's default service: 405 with `Allow` for a known path, else 404.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    let allowed = req
        .app_data::<web::Data<KnownRoutes>>()
        .and_then(|k| k.allowed(req.path()));
    let Some(allowed) = allowed else {
        return route_not_found(req).await;
    };
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut res = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("{} answers {allow}, not {}", req.path(), req.method()),
    )
    .error_response();
    if let Ok(v) = HeaderValue::from_str(&allow) {
        res.headers_mut().insert(ALLOW, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_methods_of_every_pattern_matching_a_path_are_allowed() {
        let known = KnownRoutes { routes: vec![] }
            .with("/api/v1/orders", &[Method::POST])
            .with("/api/v1/orders", &[Method::GET])
            .with("/api/v1/orders/{id}", &[Method::GET, Method::DELETE])
            .with("/swagger-ui/{_:.*}", &[Method::GET]);
        assert_eq!(
            known.allowed("/api/v1/orders"),
            Some(vec![Method::GET, Method::POST])
        );
        assert_eq!(
            known.allowed("/api/v1/orders/7"),
            Some(vec![Method::DELETE, Method::GET])
        );
        assert_eq!(
            known.allowed("/swagger-ui/index.css"),
            Some(vec![Method::GET])
        );
        assert_eq!(known.allowed("/api/v1/orders/7/nothing"), None);
        assert_eq!(known.allowed("/nowhere"), None);
    }
}
