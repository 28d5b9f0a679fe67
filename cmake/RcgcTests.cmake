# Every tests/test_*.c is one executable; every TEST(name) in it is one ctest
# test running in its own process ("<file>.<name>"). Tests see the public
# header and, for white-box checks, src/ (tests/README.md says which do).
file(GLOB RCGC_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_*.c)
set(RCGC_TEST_TIMEOUT 120 CACHE STRING "Per-test timeout in seconds")
foreach(src ${RCGC_TEST_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_CURRENT_SOURCE_DIR}/tests/harness.c)
  target_link_libraries(${name} PRIVATE rcgc pthread)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/tests
    ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_options(${name} PRIVATE ${RCGC_WARNINGS})
  file(STRINGS ${src} lines REGEX "^TEST\\([A-Za-z0-9_]+\\)")
  foreach(line ${lines})
    string(REGEX REPLACE "^TEST\\(([A-Za-z0-9_]+)\\).*" "\\1" tname "${line}")
    add_test(NAME ${name}.${tname} COMMAND ${name} ${tname})
    set_tests_properties(${name}.${tname} PROPERTIES TIMEOUT ${RCGC_TEST_TIMEOUT})
  endforeach()
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${RCGC_TEST_SOURCES})
