// Entry of the worker process `berth fleet serve` starts beside its HTTP API (see worker.ts).
"use strict";
require("tsx/cjs/api").register();
require("./worker.ts");
