#pragma once

// Crash points for the resume tests. Only the test build of the binary
// (tessera-crashable, compiled with TESSERA_CRASH_POINTS) acts on them: with
// TESSERA_CRASH_AT=NAME:N in its environment it SIGKILLs itself, as `kill -9`
// would, the N-th time the crash point NAME is passed. In build/tessera the
// call does nothing, and no variable is read.
//
// Call one right after a unit of work (a tile, a batch, an image) has been
// handed to storage. Names are "<command>.<what was just stored>".

namespace tessera {

void crash_point(const char* name);

}  // namespace tessera
