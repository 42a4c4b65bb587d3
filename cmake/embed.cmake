# Compiles files into C sources.
#
# One file, as a NUL-terminated string `const char NAME[]` (the default configuration):
#   cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
# Every file under a folder, as a table of struct tb_web_ui_file (core/web_ui.h): the web UI.
# Each entry carries its path below DIR, its Content-Type (chosen here from the extension; an
# unknown extension stops the build, so nothing is ever served with a guessed type), an ETag
# (a prefix of the SHA-256 of the bytes) and the bytes with their length (binary files too).
# Names beginning with a dot are left out.
#   cmake -DDIR=folder -DOUT=file.c -P embed.cmake

function(tb_hex_body file outvar)
  file(READ ${file} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
  set(${outvar} "${body}" PARENT_SCOPE)
endfunction()

if(DEFINED IN)
  tb_hex_body(${IN} body)
  file(WRITE ${OUT} "/* Generated from ${NAME}'s source file at build time. */\nconst char ${NAME}[] = {\n${body}0x00 };\n")
  return()
endif()

# Extension -> Content-Type (a CMake list cannot hold the ";" of a charset parameter, hence the
# "text" flag: those types get "; charset=utf-8").
set(types html text/html/text css text/css/text js text/javascript/text mjs text/javascript/text
  json application/json/bin svg image/svg+xml/bin png image/png/bin ico image/x-icon/bin
  txt text/plain/text)

file(GLOB_RECURSE files RELATIVE ${DIR} ${DIR}/*)
list(SORT files)
set(out "/* Generated from the files under web-ui/ at build time (cmake/embed.cmake). */\n#include \"core/web_ui.h\"\n\n")
set(table "")
set(n 0)
foreach(rel ${files})
  if(rel MATCHES "(^|/)\\.")
    continue()
  endif()
  string(REGEX MATCH "[^.]+$" ext "${rel}")
  list(FIND types "${ext}" at)
  if(at LESS 0 OR rel STREQUAL ext)
    message(FATAL_ERROR "web UI file ${rel}: no content type for its extension (cmake/embed.cmake)")
  endif()
  math(EXPR at "${at} + 1")
  list(GET types ${at} type)
  string(REGEX REPLACE "/text$" "; charset=utf-8" type "${type}")
  string(REGEX REPLACE "/bin$" "" type "${type}")
  file(SIZE ${DIR}/${rel} size)
  file(SHA256 ${DIR}/${rel} sum)
  string(SUBSTRING "${sum}" 0 20 sum)
  tb_hex_body(${DIR}/${rel} body)
  string(APPEND out "static const unsigned char f${n}[] = {\n${body}0x00 };\n")
  string(APPEND table "\t{ \"${rel}\", \"${type}\", \"\\\"${sum}\\\"\", f${n}, ${size} },\n")
  math(EXPR n "${n} + 1")
endforeach()
string(APPEND out "\nconst struct tb_web_ui_file tb_web_ui_files[] = {\n${table}};\nconst size_t tb_web_ui_n_files = ${n};\n")
file(WRITE ${OUT} "${out}")
