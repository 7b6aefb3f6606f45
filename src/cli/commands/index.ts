/** Every subcommand's register function, in the order `ballast --help` lists them. */
import type { Command } from 'commander';
import { register as analyze } from './analyze.ts';
import { register as exportCmd } from './export.ts';
import { register as demo } from './demo.ts';
import { register as plan } from './plan.ts';
import { register as simulate } from './simulate.ts';
import { register as run } from './run.ts';
import { register as capture } from './capture.ts';
import { register as sessions } from './sessions.ts';
import { register as watch } from './watch.ts';
import { register as collect } from './collect.ts';
import { register as report } from './report.ts';
import { register as dashboard } from './dashboard.ts';
import { register as diff } from './diff.ts';
import { register as reorder } from './reorder.ts';
import { register as doctor } from './doctor.ts';
import { register as detect } from './detect.ts';
import { register as agentPath } from './agent-path.ts';

export const COMMANDS: ((program: Command) => void)[] = [
  analyze, exportCmd, demo, plan, simulate, detect, run, capture, sessions, watch, collect, report, dashboard, diff, reorder, doctor, agentPath,
];
