export { Operator } from './operator';
export { Kube } from './kube';
export { startOperator } from './bootstrap';
