import { stepRunnerContract } from '../support/step-runner-contract.js';
import { BubblewrapStepRunner } from '../../shared/steps/bubblewrap.step-runner.js';

stepRunnerContract('bubblewrap runner', () => new BubblewrapStepRunner({ killGraceMs: 300 }));
