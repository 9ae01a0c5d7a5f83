import { runTreeDemo, TREE_DEFAULTS, TREE_MODES } from '../../lib/tree-demo.ts';
import { numberInput, poolControls, setupPage } from './page.ts';

const nodes = numberInput('nodes', undefined, TREE_DEFAULTS.nodes);
const queries = numberInput('queries', undefined, TREE_DEFAULTS.queries);
const controls = poolControls(
  {
    poolMiB: TREE_DEFAULTS.poolBytes / (1024 * 1024), pageKiB: TREE_DEFAULTS.pageSize / 1024, mode: TREE_DEFAULTS.mode,
    modeNote: 'Declared ranges do not apply: no one knows which nodes a lookup visits.',
  },
  TREE_MODES,
);

setupPage('tree-demo-device', (device, hooks) => runTreeDemo(device, { ...controls(), nodes: nodes(), queries: queries() }, hooks));
