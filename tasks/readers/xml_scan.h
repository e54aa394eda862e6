/* Streaming XML tokenizer for the big parts of a workbook (worksheets and
 * the shared string table), in place of expat where speed matters.
 *
 * Owns: a carry buffer for a token cut by a chunk boundary (bounded by
 * DAGD_XML_MAX_TOKEN), the stack of open element names (bounded by
 * DAGD_XML_MAX_DEPTH) and a scratch area for decoded attribute values.
 * Nothing grows with the size of the document: text is handed out in pieces
 * as it is scanned, markup is parsed in the caller's chunk where possible
 * and copied only when a chunk ends inside it.
 *
 * What it checks (XML 1.0 well-formedness as far as a DTD-less, UTF-8
 * document goes): tag nesting and names, attribute syntax and uniqueness,
 * the five predefined and numeric character references (the code point must
 * be an XML Char), UTF-8 validity and XML Chars everywhere, "]]>" in text,
 * "--" in comments, one root element, nothing but white space, comments and
 * processing instructions around it. CDATA sections are text. \r\n and \r
 * become \n in text, \t \n \r become spaces in attribute values (XML 1.0
 * 2.11, 3.3.3).
 * Encodings: UTF-8 (and its ASCII subset) is scanned in place; UTF-16 (by
 * byte order mark or a leading "<" unit) and a declared ISO-8859-1 are
 * transcoded to UTF-8 first, and positions then count UTF-8 bytes. Others
 * are refused (-ENOTSUP), as is a DOCTYPE (OPC, ECMA-376 part 2, forbids
 * DTDs in parts, so no entity is ever expanded).
 * Namespaces are not processed: names are handed out as written ("x:c").
 *
 * Calls nothing but libc; it never logs.
 */
#ifndef DAGD_READERS_XML_SCAN_H
#define DAGD_READERS_XML_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DAGD_XML_MAX_TOKEN (1024u * 1024u) /* one tag, with its attributes */
#define DAGD_XML_MAX_DEPTH 1024u
#define DAGD_XML_MAX_ATTRS 256u

/* One attribute of a start tag. `value` is decoded (entities replaced,
 * white space normalized) and valid until the start callback returns; it is
 * not NUL-terminated. */
struct dagd_xml_attr {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Callbacks; each returns 0 to go on or a negative errno to stop: the feed
 * then returns that value and sets no message. Names are not NUL-terminated.
 * An empty element (<c/>) is a start immediately followed by its end. Text
 * comes in pieces (split at chunk ends, references and line ends); a caller
 * that wants an element's text concatenates them. Any callback may be NULL. */
typedef int (*dagd_xml_start_fn)(void *userdata, const char *name, size_t name_len,
                                 const struct dagd_xml_attr *attrs, size_t n_attrs);
typedef int (*dagd_xml_end_fn)(void *userdata, const char *name, size_t name_len);
typedef int (*dagd_xml_text_fn)(void *userdata, const char *text, size_t len);

struct dagd_xml_handler {
    dagd_xml_start_fn start;
    dagd_xml_end_fn end;
    dagd_xml_text_fn text;
    void *userdata;
};

struct dagd_xml_scan;

/* A scanner calling `h` (copied; userdata must outlive the scanner), or NULL
 * when out of memory. */
struct dagd_xml_scan *dagd_xml_scan_new(const struct dagd_xml_handler *h);
/* Accepts NULL; returns NULL. */
struct dagd_xml_scan *dagd_xml_scan_free(struct dagd_xml_scan *s);

/* Scans the next `len` bytes of the document; `data` need only live for the
 * call. `final` says that no more bytes follow (len may be 0 then): an open
 * element or token is then an error. Returns 0, the negative value a
 * callback returned, or:
 *   -EINVAL  the document is not well-formed (message and position set),
 *   -ENOTSUP a DOCTYPE or an encoding other than UTF-8, UTF-16, ISO-8859-1,
 *   -E2BIG   a tag over DAGD_XML_MAX_TOKEN, nesting over DAGD_XML_MAX_DEPTH,
 *            more than DAGD_XML_MAX_ATTRS attributes,
 *   -ENOMEM.
 * After an error every later call returns the same value. */
int dagd_xml_scan_feed(struct dagd_xml_scan *s, const void *data, size_t len, bool final);

/* The message of the last error (without position), "" if none. */
const char *dagd_xml_scan_error(const struct dagd_xml_scan *s);

/* Where the last error was found, or where scanning stands: 1-based line,
 * 1-based column in bytes, 0-based byte offset in the document. */
void dagd_xml_scan_position(const struct dagd_xml_scan *s, uint64_t *ret_line, uint64_t *ret_col,
                            uint64_t *ret_byte);

#endif /* DAGD_READERS_XML_SCAN_H */
