// jemalloc's options for the servers that link it (CMakeLists.txt, baton_link_allocator),
// read when it starts; MALLOC_CONF in the environment is applied over them.
//
// background_thread: freed pages go back to the system on jemalloc's own thread, within
// its decay time (10 s), even while the process allocates nothing: an orchestrator that
// created 100,000 runs and then sat idle held ~40 MB of freed memory without it
// (docs/PERFORMANCE.md, W6).
extern "C" {
// The name and type jemalloc looks for.
const char* malloc_conf = "background_thread:true";
}
