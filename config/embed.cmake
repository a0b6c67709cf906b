# Turns config/rumwatch.conf into a C string so the binary carries an
# identical built-in copy of the default config.
file(READ ${IN} content HEX)
string(LENGTH "${content}" hexlen)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${content}")
file(WRITE ${OUT} "/* generated from config/rumwatch.conf - do not edit */\n#include <stddef.h>\nconst char rw_default_conf[] = {${bytes} 0x00};\nconst size_t rw_default_conf_len = sizeof rw_default_conf - 1;\n")
