# -DLOWBIT_SANITIZE=address,undefined builds the C targets with those sanitizers (for ctest;
# a sanitized library cannot be loaded into a plain JVM).
set(LOWBIT_SANITIZE "" CACHE STRING "Comma-separated sanitizers for the C targets")
function(lowbit_sanitizers target)
  if(LOWBIT_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${LOWBIT_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${LOWBIT_SANITIZE})
  endif()
endfunction()
