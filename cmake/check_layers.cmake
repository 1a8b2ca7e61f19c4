# The layering, checked: every quoted include of a source file must point to
# its own library or to one the table below allows, and only model/ may
# include LibTorch in a header. Include roots already make most wrong edges
# fail to compile; this also catches an edge that a target's link line would
# have let through. Run by ctest (test "layers"):
#   cmake -DSOURCE_DIR=<repo> -P cmake/check_layers.cmake

cmake_minimum_required(VERSION 3.20)

# Library folder -> include prefixes it may use besides its own. The prefix of
# a library is the folder under its include/ root.
set(allowed_base "")
set(allowed_model "base")
set(allowed_config "base;model")
set(allowed_text "base")
set(allowed_store "base")
set(allowed_imaging "base")
set(allowed_slide "base;imaging")
set(allowed_prompts "base;text")
set(allowed_dataset "base;imaging")
set(allowed_runtime "base;model;config;store;imaging;text")
set(allowed_pipeline "base;config;store;text;imaging;slide;prompts;dataset;runtime")
set(allowed_cli "base;config;store;text;imaging;slide;prompts;dataset;runtime;pipeline")
set(allowed_examples "base;imaging;runtime")

# Source folder -> library (the prefix its headers are included under).
set(folders base model config text store stages/imaging stages/slide stages/prompts stages/dataset runtime pipeline
            cli examples)
set(known_prefixes base model config text store imaging slide prompts dataset runtime pipeline examples)

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "check_layers: pass -DSOURCE_DIR=<repository root>")
endif()

set(violations "")
foreach(folder IN LISTS folders)
  get_filename_component(library ${folder} NAME)
  set(allowed ${allowed_${library}})
  list(APPEND allowed ${library})
  file(GLOB_RECURSE files RELATIVE ${SOURCE_DIR} ${SOURCE_DIR}/${folder}/*.h ${SOURCE_DIR}/${folder}/*.cpp)
  foreach(file IN LISTS files)
    file(STRINGS ${SOURCE_DIR}/${file} includes REGEX "^#include [\"<]")
    foreach(line IN LISTS includes)
      if(line MATCHES "^#include <torch/" AND file MATCHES "\\.h$" AND NOT library STREQUAL "model")
        list(APPEND violations "${file}: ${line} (only model/ headers may include LibTorch)")
      endif()
      if(NOT line MATCHES "^#include \"([a-z_]+)/")
        continue()
      endif()
      set(prefix ${CMAKE_MATCH_1})
      if(prefix IN_LIST known_prefixes AND NOT prefix IN_LIST allowed)
        string(REPLACE ";" ", " allowed_text "${allowed}")
        list(APPEND violations "${file}: ${line} (${library} may include ${allowed_text})")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violations)
  list(LENGTH violations count)
  string(REPLACE ";" "\n  " text "${violations}")
  message(FATAL_ERROR "check_layers: ${count} include(s) against the layering:\n  ${text}")
endif()
message(STATUS "check_layers: every include follows the layering")
