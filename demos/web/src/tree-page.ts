import { runTreeDemo, TREE_DEFAULTS } from '../../lib/tree-demo.ts';
import { checkboxInput, numberInput, setupPage } from './page.ts';

const nodes = numberInput('nodes');
const queries = numberInput('queries');
const pool = numberInput('pool');
const page = numberInput('page');
const transaction = checkboxInput('transaction');

setupPage('tree-demo-device', (device, log) =>
  runTreeDemo(device, {
    ...TREE_DEFAULTS,
    nodes: nodes(), queries: queries(), poolBytes: pool() * 1024 * 1024, pageSize: page() * 1024, transaction: transaction(),
  }, log));
