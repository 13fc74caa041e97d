// Compiles chain/contracts/**/*.sol with solc-js (standard JSON, pinned settings) and writes one
// artifact per deployable contract: <outDir>/<Name>.json = {abi, bytecode:{object}, deployedBytecode:{object}}.
// Usage: node chain/tools/compile.js <solc module dir> <contracts dir> <out dir>
'use strict';
const fs = require('fs');
const path = require('path');

const [solcDir, contractsDir, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: compile.js <solc module dir> <contracts dir> <out dir>');
  process.exit(2);
}
const solc = require(path.resolve(solcDir));

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.name.endsWith('.sol') ? [p] : [];
  }).sort();
}

const sources = {};
for (const file of walk(contractsDir)) {
  sources[path.relative(contractsDir, file).split(path.sep).join('/')] = { content: fs.readFileSync(file, 'utf8') };
}

const input = {
  language: 'Solidity',
  sources,
  settings: {
    // Pinned: changing any of these changes the checked-in artifacts.
    optimizer: { enabled: true, runs: 200 },
    viaIR: true,
    evmVersion: 'cancun',
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};

function findImports(p) {
  const full = path.join(contractsDir, p);
  return fs.existsSync(full) ? { contents: fs.readFileSync(full, 'utf8') } : { error: 'not found: ' + p };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
let failed = false;
for (const e of output.errors || []) {
  console.error(e.formattedMessage || e.message);
  if (e.severity === 'error') failed = true;
}
if (failed) process.exit(1);

fs.mkdirSync(outDir, { recursive: true });
const names = [];
for (const file of Object.keys(output.contracts).sort()) {
  for (const [name, c] of Object.entries(output.contracts[file])) {
    if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
    const artifact = {
      abi: c.abi,
      bytecode: { object: '0x' + c.evm.bytecode.object },
      deployedBytecode: { object: '0x' + c.evm.deployedBytecode.object },
    };
    fs.writeFileSync(path.join(outDir, name + '.json'), JSON.stringify(artifact, null, 1) + '\n');
    names.push(name);
  }
}
console.error(`compiled with solc ${solc.version()}: ${names.join(', ')}`);
