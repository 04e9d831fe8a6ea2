// The source of divan_pch, the target that owns the shared precompiled header (cmake/pch.h):
// CMake precompiles a header only for a target with at least one source. Nothing links it.
