# Strict warnings for the project's own targets; -DLOWBIT_WERROR=ON turns them into errors.
option(LOWBIT_WERROR "Treat warnings as errors" OFF)
function(lowbit_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion>)
  if(LOWBIT_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:-Werror>)
  endif()
endfunction()
