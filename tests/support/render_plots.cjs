// node render_plots.cjs <folder>: render every plot of <folder>/index.html with the scripts
// beside it, loaded the way a browser loads them (as globals, no module system, no network).
// Prints a JSON list: how many marks (a line, a cell, a label) each plot drew from its data.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const [folder] = process.argv.slice(2);
const browserGlobals = {
  console, setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask,
  structuredClone, URL, TextEncoder, TextDecoder,
};
const page = vm.createContext({ ...browserGlobals });
for (const file of ["vega.min.js", "vega-lite.min.js", "vega-embed.min.js"]) {
  vm.runInContext(fs.readFileSync(path.join(folder, file), "utf8"), page, { filename: file });
}
if (typeof page.vegaEmbed !== "function") throw new Error("vega-embed did not load");

// Each plot is `var spec = {...};` in its own script: what vegaEmbed gets in the browser.
const html = fs.readFileSync(path.join(folder, "index.html"), "utf8");
const specs = [...html.matchAll(/var spec = (.*);\s*\n/g)].map((match) => JSON.parse(match[1]));
const silent = () => {};
const logger = { warn: silent, info: silent, debug: silent, error: console.error };
logger.level = () => logger;
const marks = (svg) => (svg.match(/aria-roledescription="[a-z]+ mark"/g) || []).length;
const views = specs.map((spec) => {
  const compiled = page.vegaLite.compile(spec, { logger }).spec;
  return new page.vega.View(page.vega.parse(compiled), { renderer: "none" }).toSVG();
});
Promise.all(views).then(
  (svgs) => console.log(JSON.stringify(svgs.map(marks))),
  (error) => {
    console.error(String(error));
    process.exitCode = 1;
  },
);
