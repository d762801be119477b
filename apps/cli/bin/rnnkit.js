#!/usr/bin/env node
// The `rnnkit` command. It lives outside dist/ so that package managers can link it before the
// first build (a bin pointing into dist/ gives "Failed to create bin" on a fresh install).
import '../dist/bin.js';
