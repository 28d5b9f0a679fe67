# cmake -DIN=file -DOUT=header -DNAME=symbol -P embed.cmake
# Writes 'static const unsigned char NAME[] = {...};' (no NUL terminator).
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT} "/* Generated from ${IN} by embed.cmake: do not edit. */\n"
                  "static const unsigned char ${NAME}[] = {\n${bytes}\n};\n")
