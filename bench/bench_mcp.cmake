# hsk_bench_mcp: per-call overhead of hsk-mcp-proxy --role service over a direct stdio connection
# (bench/bench_mcp_proxy.cpp). Needs the MCP adapter's proxy and example server.
if(TARGET hsk-mcp-proxy AND TARGET hsk-mcp-example-server)
  add_executable(hsk_bench_mcp bench_mcp_proxy.cpp)
  target_link_libraries(hsk_bench_mcp PRIVATE handshake::core benchmark::benchmark)
  target_compile_options(hsk_bench_mcp PRIVATE ${HSK_WARNINGS})
  target_compile_definitions(hsk_bench_mcp PRIVATE HSK_MCP_PROXY="$<TARGET_FILE:hsk-mcp-proxy>"
                                                   HSK_EXAMPLE_SERVER="$<TARGET_FILE:hsk-mcp-example-server>")
  add_dependencies(hsk_bench_mcp hsk-mcp-proxy hsk-mcp-example-server)
  add_test(NAME bench_mcp_smoke COMMAND hsk_bench_mcp --benchmark_min_time=0.01)
endif()
