#!/usr/bin/env python3
"""Embed a text file in C: embed_sql.py INPUT OUTPUT MACRO writes a header
defining MACRO as a string literal with the file's bytes."""
import sys

def main():
    src, out, macro = sys.argv[1:4]
    data = open(src, 'rb').read()
    lines = []
    for line in data.split(b'\n'):
        esc = ''.join(chr(b) if 32 <= b < 127 and b not in (34, 92) else '\\%03o' % b for b in line)
        lines.append('    "%s\\n"' % esc)
    with open(out, 'w') as f:
        f.write('/* Generated from %s by embed_sql.py: do not edit. */\n' % src.split('/')[-1])
        f.write('#define %s \\\n%s\n' % (macro, ' \\\n'.join(lines)))

if __name__ == '__main__':
    main()
