/** The statistics tests' JSON-in/JSON-out python reference (Debian's /usr/bin/python3). */
export { runPythonJson as runPython } from '../helpers/python.js';
