// QR codes of ticket codes, drawn as SVG from the vendored encoder (qrcode-generator,
// MIT: vendor/qrcode-generator.LICENSE.txt): black modules on white with the four-module
// quiet zone scanners need, crisp at any size (on a phone and on paper).
import qrcode from "./vendor/qrcode.mjs";

const SVG = "http://www.w3.org/2000/svg";
const QUIET = 4;

/**
 * An `<svg role="img">` of `text` as a QR code (the smallest version that holds it, error
 * correction M: a code on a cracked or dim screen still reads), named `label` for
 * screen readers.
 */
export function qrSvg(text, label) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Byte");
  qr.make();
  const n = qr.getModuleCount();
  const size = n + 2 * QUIET;
  let d = "";
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      // Runs of dark modules in a row as one rectangle: a path a few times shorter.
      if (!qr.isDark(r, c)) continue;
      let run = 1;
      while (c + run < n && qr.isDark(r, c + run)) run++;
      d += `M${c + QUIET} ${r + QUIET}h${run}v1h-${run}z`;
      c += run - 1;
    }
  }
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.setAttribute("class", "qr");
  const bg = document.createElementNS(SVG, "rect");
  bg.setAttribute("width", String(size));
  bg.setAttribute("height", String(size));
  bg.setAttribute("fill", "#fff");
  const modules = document.createElementNS(SVG, "path");
  modules.setAttribute("d", d);
  modules.setAttribute("fill", "#000");
  svg.append(bg, modules);
  return svg;
}
