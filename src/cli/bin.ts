/**
 * The `mproxy` executable. `relay` and `device` start again with their process settings (see
 * process-settings.ts) before anything else is loaded: the commands' modules take most of the
 * start-up time, and loading them twice would pay it twice.
 */
import { applyProcessSettings } from './process-settings.js';

const command = process.argv[2];
if (command === 'relay' || command === 'device') applyProcessSettings();
await import('./main.js');
