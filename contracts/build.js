#!/usr/bin/env node
// Compiles the project's Solidity sources with the pinned npm `solc` (solcjs) into JSON
// artifacts (abi + creation bytecode) under ramps/chain/contracts/, which are committed so that
// the gateway needs no compiler at run time. Run from anywhere: `node contracts/build.js`.
"use strict";

const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..");
const solc = require(path.join(root, "node_modules", "solc"));

const sourcesDir = __dirname;
const outDir = path.join(root, "ramps", "chain", "contracts");
const contracts = ["StableToken", "NoBoolToken", "TransferBurst"];

const input = {
  language: "Solidity",
  sources: {},
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
for (const name of contracts) {
  const file = `${name}.sol`;
  input.sources[file] = { content: fs.readFileSync(path.join(sourcesDir, file), "utf8") };
}

const output = JSON.parse(solc.compile(JSON.stringify(input)));
const problems = output.errors || [];
for (const problem of problems) {
  process.stderr.write(problem.formattedMessage + "\n");
}
if (problems.some((problem) => problem.severity === "error")) {
  process.exit(1);
}

fs.mkdirSync(outDir, { recursive: true });
for (const name of contracts) {
  const compiled = output.contracts[`${name}.sol`][name];
  const artifact = {
    contractName: name,
    compiler: `solc ${solc.version()}`,
    abi: compiled.abi,
    bytecode: "0x" + compiled.evm.bytecode.object,
  };
  const target = path.join(outDir, `${name}.json`);
  fs.writeFileSync(target, JSON.stringify(artifact, null, 2) + "\n");
  process.stdout.write(`wrote ${path.relative(root, target)}\n`);
}
