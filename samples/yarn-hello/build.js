// Writes dist/index.js, which uses the dependency, and checks that it runs.
const fs = require("node:fs");
const isNumber = require("is-number");

fs.mkdirSync("dist", { recursive: true });
fs.writeFileSync("dist/index.js", 'const isNumber = require("is-number");\nmodule.exports = (x) => (isNumber(x) ? `${x} is a number` : `${x} is not a number`);\n');
const describe = require("./dist/index.js");
console.log(describe(42), "|", describe("forty-two"), "| is-number says", isNumber("7"));
