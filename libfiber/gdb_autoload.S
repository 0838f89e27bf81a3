/* SPDX-License-Identifier: MIT */
/*
 * libfiber's gdb script (libfiber/gdb/libfiber-gdb.py), embedded whole in
 * the .debug_gdb_scripts section, so that gdb loads it by itself with any
 * program that has libfiber in it: linked to libfiber.so, or statically
 * to libfiber.a (the section is merged into the program).
 *
 * An entry is a type byte, then a NUL-terminated string.  Type 4
 * (SECTION_SCRIPT_ID_PYTHON_TEXT) is a script's text, its first line
 * the name gdb shows in `info auto-load python-scripts`.  Type 1 (a file
 * name) would be looked for in the current directory and gdb's source
 * path only, not where an installed library's script could be put.  A
 * text entry needs no path at all, and the script goes wherever the
 * library's debug information goes (which the script needs anyway):
 * strip removes both; a -dbgsym package or separate .debug file keeps
 * both, and gdb reads the section from there.  gdb runs it only if the
 * file it comes from is within `set auto-load safe-path`.
 *
 * "MS", 1: mergeable strings, so that the linker keeps one copy however
 * many objects bring it.  The script must hold no NUL byte.
 */
	.pushsection .debug_gdb_scripts, "MS", %progbits, 1
	.byte	4
	.ascii	"libfiber-gdb.py\n"
	.incbin	"libfiber/gdb/libfiber-gdb.py"
	.byte	0
	.popsection
	.section .note.GNU-stack, "", %progbits
