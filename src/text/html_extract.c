/* HTML to main text: gumbo parses (HTML5 error recovery), one iterative walk emits the text.
 *
 * Layout of the output (the walk keeps these invariants):
 *  - Separators are never written eagerly. Each boundary raises `pending` to a level
 *    (SEP_SPACE < SEP_LINE < SEP_PARA); the separator is written only in front of the next visible
 *    character, and only if something was written before. So the text never starts or ends with
 *    whitespace, a line never starts or ends with a space, and there is at most one blank line in
 *    a row (SEP_PARA is "\n\n").
 *  - Block elements (p, div, h1, table, ...) are paragraphs; li, dt, dd and tr are lines; cells
 *    are joined by a space. Inside a list item the paragraphs of its children become lines, and
 *    inside a "simple" table cell (small, no nested table/list/pre) they become spaces, so that a
 *    LibreOffice table (<td><p>...</p></td>) keeps one row per line. `cap` is the highest level
 *    a boundary may request inside the current element.
 *  - Outside <pre>, runs of ASCII whitespace and U+00A0 collapse to one pending space. Inside
 *    <pre>, line breaks are kept (up to one blank line in a row) and spaces are held back until a
 *    visible character follows on the same line, so no line ends with a space.
 *  - Every byte written is well-formed UTF-8: gumbo already decodes to UTF-8, and the emitter
 *    re-checks each non-ASCII sequence (U+FFFD for anything else) and drops NUL.
 *
 * What is dropped, with its subtree (the "page chrome" rules, see also extract.h):
 *  - elements: script, style, template, noscript, head (its <title> goes to info), title, nav,
 *    header (except inside <article>, where it holds the headline), footer, aside, menu, form
 *    controls (input, button, select, option, optgroup, datalist, textarea, keygen, output),
 *    svg, math, iframe, frame(set), object, embed, applet, canvas, audio, video, map, noembed,
 *    noframes, dialog without `open`;
 *  - attributes: hidden, aria-hidden="true", style with display:none or visibility:hidden,
 *    role=navigation|banner|contentinfo|menu|menubar|search|toolbar|dialog|alert;
 *  - class and id tokens naming chrome (CHROME_WORDS below matches a whole token, CHROME_PARTS
 *    any part of a token split at '-' and '_'; tokens whose first part is a state word such as
 *    "has" or "no" are ignored: body class="has-sidebar" is not a sidebar). Never applied to
 *    html, body, main or article, which some sites tag with such classes, nor to inline
 *    phrasing elements (span, em, code, ...), whose class names a kind of word.
 *  - LibreOffice help pages hide the platform and module variants of a passage
 *    (<span class="switchinline"><span hidden id="MAC...">...<span hidden id="default...">) and
 *    let JavaScript unhide one: the "default" variant is kept, or all of them where there is no
 *    default (per-module wording, all of it real text).
 *
 * Pathological nesting: gumbo's tree construction looks up the stack of open elements for every
 * start tag (quadratic: 100k nested <div> take ~40 s) and frees the tree recursively. A cheap
 * pre-scan estimates the nesting depth; above MAX_NESTING the input is copied without the start
 * and end tags that go deeper (their text stays). See flatten_deep_nesting.
 *
 * Thread-safe: only constant tables and per-call state. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gumbo.h>

#include "text/extract.h"
#include "text/unicode.h"

enum { SEP_NONE = 0, SEP_SPACE = 1, SEP_LINE = 2, SEP_PARA = 3 };

/* ---- nesting guard ---- */

#define MAX_NESTING 256

/* Elements the pre-scan does not count: void elements, elements whose end tag is optional and
 * that close their open siblings (they cannot nest without a counted element between), <a>
 * (a new <a> closes the open one) and raw-text elements (skipped whole). */
static const char *const UNCOUNTED[] = {
    "a",     "area",   "base",   "basefont", "bgsound", "body",  "br",     "caption",  "col",
    "colgroup", "dd",  "dt",     "embed",    "frame",   "head",  "hr",     "html",     "iframe",
    "image", "img",    "input",  "keygen",   "li",      "link",  "meta",   "noembed",  "noframes",
    "noscript", "optgroup", "option", "p",   "param",   "plaintext", "rb", "rp",       "rt",
    "rtc",   "script", "source", "style",    "tbody",   "td",    "template", "textarea", "tfoot",
    "th",    "thead",  "title",  "tr",       "track",   "wbr",   "xmp",
};

static int name_is(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

static int uncounted(const char *name, size_t n)
{
    size_t lo = 0, hi = sizeof UNCOUNTED / sizeof UNCOUNTED[0];
    char low[16];
    if (n >= sizeof low) return 0;
    for (size_t i = 0; i < n; i++) low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    low[n] = 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(low, UNCOUNTED[mid]);
        if (c == 0) return 1;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return 0;
}

static int is_raw_text(const char *name, size_t n)
{
    return name_is(name, n, "script") || name_is(name, n, "style") || name_is(name, n, "textarea") ||
           name_is(name, n, "title") || name_is(name, n, "xmp") || name_is(name, n, "iframe") ||
           name_is(name, n, "noembed") || name_is(name, n, "noframes") || name_is(name, n, "noscript");
}

static int is_tag_name_char(uint8_t c)
{
    return c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '/' && c != '>';
}

/* Offset just past the '>' closing a tag whose attributes start at s[i], honouring quoted
 * attribute values; n if the input ends first. */
static size_t tag_end(const char *s, size_t n, size_t i)
{
    while (i < n) {
        char c = s[i++];
        if (c == '>') return i;
        if (c == '=') {
            while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f')) i++;
            if (i < n && (s[i] == '"' || s[i] == '\'')) {
                const char *q = memchr(s + i + 1, s[i], n - i - 1);
                i = q ? (size_t)(q - s) + 1 : n;
            }
        }
    }
    return n;
}

/* Scans the tags of s[0..n) with a simplified tokenizer and tracks an estimate of the depth of
 * open elements. With copy == NULL, only returns the highest depth reached. Otherwise appends
 * s to copy without the tags that would go deeper than MAX_NESTING (end tags are dropped while
 * the estimate is above the limit, matching the dropped start tags). The estimate is rough
 * (stray end tags, implied end tags) but text is always kept, and only pages that nest deeper
 * than any real page lose some structure. */
static size_t flatten_deep_nesting(const char *s, size_t n, hlm_buf *copy, hlm_status *st)
{
    size_t depth = 0, max_depth = 0, foreign = 0, i = 0, kept = 0;
    while (i < n) {
        const char *lt = memchr(s + i, '<', n - i);
        if (!lt) break;
        size_t at = (size_t)(lt - s), j = at + 1;
        if (j >= n) break;
        if (s[j] == '!') {
            if (n - j >= 3 && s[j + 1] == '-' && s[j + 2] == '-') {
                const char *e = memmem(s + j + 3, n - j - 3, "-->", 3);
                i = e ? (size_t)(e - s) + 3 : n;
            } else {
                const char *e = memchr(s + j, '>', n - j);
                i = e ? (size_t)(e - s) + 1 : n;
            }
            continue;
        }
        int end_tag = s[j] == '/';
        if (end_tag) j++;
        if (j >= n || !((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')) {
            i = j;
            continue;
        }
        size_t name = j;
        while (j < n && is_tag_name_char((uint8_t)s[j])) j++;
        size_t name_len = j - name;
        size_t end = tag_end(s, n, j);
        int self_closing = end >= 2 && end <= n && s[end - 1] == '>' && s[end - 2] == '/';
        int drop = 0;
        if (end_tag) {
            if (name_is(s + name, name_len, "svg") || name_is(s + name, name_len, "math")) {
                if (foreign) foreign--;
            }
            if (!uncounted(s + name, name_len) && depth > 0) {
                drop = depth > MAX_NESTING;
                depth--;
            }
        } else {
            if ((name_is(s + name, name_len, "svg") || name_is(s + name, name_len, "math")) && !self_closing)
                foreign++;
            if (!uncounted(s + name, name_len) && !(foreign && self_closing)) {
                depth++;
                if (depth > max_depth) max_depth = depth;
                drop = depth > MAX_NESTING;
            }
        }
        if (drop && copy) {
            if (hlm_buf_append(copy, s + kept, at - kept)) *st = HLM_ERR_NOMEM;
            kept = end;
        }
        i = end;
        if (!end_tag && name_is(s + name, name_len, "plaintext")) break; /* the rest is text */
        if (!end_tag && is_raw_text(s + name, name_len)) {
            /* Skip to the matching end tag: markup inside is text, not elements. */
            while (i < n) {
                const char *e = memmem(s + i, n - i, "</", 2);
                if (!e) {
                    i = n;
                    break;
                }
                i = (size_t)(e - s);
                if (n - i - 2 >= name_len && strncasecmp(s + i + 2, s + name, name_len) == 0) break;
                i += 2;
            }
        }
    }
    if (copy && hlm_buf_append(copy, s + kept, n - kept)) *st = HLM_ERR_NOMEM;
    return max_depth;
}

/* ---- page chrome by class and id ---- */

/* Sorted; matched against a whole class/id token (lowercased). */
static const char *const CHROME_WORDS[] = {
    "ad",          "ads",         "advert",       "advertisement", "banner",     "blind",
    "breadcrumb",  "breadcrumbs", "comment",      "comment-list",  "commentlist", "comments",
    "cookie",      "footer",      "gnb",          "header",        "hidden",     "lnb",
    "masthead",    "menu",        "modal",        "nav",           "navbar",     "navfooter",
    "navheader",   "navigation",  "newsletter",   "pager",         "pagination", "popup",
    "related",     "relatedtopics", "screen-reader-text", "share", "sidebar",    "site-header",
    "skip",        "skip-link",   "skiplink",     "skipnav",       "snb",        "social",
    "sr-only",     "toolbar",     "topbar",       "visually-hidden", "visuallyhidden",
};

/* Sorted; matched against each part of a token split at '-' and '_'. */
static const char *const CHROME_PARTS[] = {
    "ads",      "advert",     "advertisement", "breadcrumb", "breadcrumbs", "comments",
    "cookie",   "cookies",    "footer",        "menu",       "menubar",     "nav",
    "navbar",   "navigation", "pagination",    "related",    "share",       "sharing",
    "sidebar",  "skip",       "social",        "sponsored",
};

/* Sorted; a token whose first part is one of these describes a state, not a region. */
static const char *const STATE_PARTS[] = {
    "disable", "enable", "has", "hide", "is", "js", "no", "show", "toggle", "with", "without",
};

static int in_sorted(const char *const *list, size_t count, const char *s)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s, list[mid]);
        if (c == 0) return 1;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return 0;
}

#define IN_LIST(list, s) in_sorted(list, sizeof list / sizeof list[0], s)

static int chrome_token(const char *tok, size_t n)
{
    char low[64];
    if (n == 0 || n >= sizeof low) return 0;
    for (size_t i = 0; i < n; i++) low[i] = (char)((tok[i] >= 'A' && tok[i] <= 'Z') ? tok[i] + 32 : tok[i]);
    low[n] = 0;
    if (IN_LIST(CHROME_WORDS, low)) return 1;
    char part[64];
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && low[i] != '-' && low[i] != '_') continue;
        size_t len = i - start;
        memcpy(part, low + start, len);
        part[len] = 0;
        if (start == 0 && IN_LIST(STATE_PARTS, part)) return 0;
        if (len && IN_LIST(CHROME_PARTS, part)) return 1;
        start = i + 1;
    }
    return 0;
}

static int chrome_attr(const char *v)
{
    const char *p = v;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f') p++;
        if (!*p) return 0;
        const char *t = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\f') p++;
        if (chrome_token(t, (size_t)(p - t))) return 1;
    }
}

static int has_token(const char *v, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = v; (p = strstr(p, word)) != NULL; p += n) {
        int start = p == v || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n';
        char after = p[n];
        if (start && (after == 0 || after == ' ' || after == '\t' || after == '\n')) return 1;
    }
    return 0;
}

/* display:none / visibility:hidden in an inline style, ignoring case and whitespace. */
static int style_hides(const char *v)
{
    char buf[256];
    size_t k = 0;
    for (const char *p = v; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f') continue;
        if (k + 1 >= sizeof buf) {
            /* Keep the tail: a long style is scanned in overlapping windows. */
            buf[k] = 0;
            if (strstr(buf, "display:none") || strstr(buf, "visibility:hidden")) return 1;
            memmove(buf, buf + k - 20, 20);
            k = 20;
        }
        buf[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    }
    buf[k] = 0;
    return strstr(buf, "display:none") || strstr(buf, "visibility:hidden");
}

/* ---- tag classes ---- */

enum {
    T_INLINE = 0,
    T_DROP,  /* skip the subtree */
    T_PARA,  /* paragraph boundary before and after */
    T_LINE,  /* line boundary; children's paragraphs become lines */
    T_CELL,  /* table cell */
    T_BR,
    T_PRE,   /* paragraph, keeps line breaks */
};

static const uint8_t TAG_CLASS[GUMBO_TAG_LAST + 1] = {
    [GUMBO_TAG_SCRIPT] = T_DROP,   [GUMBO_TAG_STYLE] = T_DROP,     [GUMBO_TAG_TEMPLATE] = T_DROP,
    [GUMBO_TAG_NOSCRIPT] = T_DROP, [GUMBO_TAG_HEAD] = T_DROP,      [GUMBO_TAG_TITLE] = T_DROP,
    [GUMBO_TAG_NAV] = T_DROP,      [GUMBO_TAG_FOOTER] = T_DROP,    [GUMBO_TAG_ASIDE] = T_DROP,
    [GUMBO_TAG_MENU] = T_DROP,     [GUMBO_TAG_INPUT] = T_DROP,     [GUMBO_TAG_BUTTON] = T_DROP,
    [GUMBO_TAG_SELECT] = T_DROP,   [GUMBO_TAG_OPTION] = T_DROP,    [GUMBO_TAG_OPTGROUP] = T_DROP,
    [GUMBO_TAG_DATALIST] = T_DROP, [GUMBO_TAG_TEXTAREA] = T_DROP,  [GUMBO_TAG_KEYGEN] = T_DROP,
    [GUMBO_TAG_OUTPUT] = T_DROP,   [GUMBO_TAG_SVG] = T_DROP,       [GUMBO_TAG_MATH] = T_DROP,
    [GUMBO_TAG_IFRAME] = T_DROP,   [GUMBO_TAG_FRAME] = T_DROP,     [GUMBO_TAG_FRAMESET] = T_DROP,
    [GUMBO_TAG_OBJECT] = T_DROP,   [GUMBO_TAG_EMBED] = T_DROP,     [GUMBO_TAG_APPLET] = T_DROP,
    [GUMBO_TAG_CANVAS] = T_DROP,   [GUMBO_TAG_AUDIO] = T_DROP,     [GUMBO_TAG_VIDEO] = T_DROP,
    [GUMBO_TAG_MAP] = T_DROP,      [GUMBO_TAG_NOEMBED] = T_DROP,   [GUMBO_TAG_NOFRAMES] = T_DROP,
    [GUMBO_TAG_MENUITEM] = T_DROP, [GUMBO_TAG_BASE] = T_DROP,      [GUMBO_TAG_LINK] = T_DROP,
    [GUMBO_TAG_META] = T_DROP,
    [GUMBO_TAG_HTML] = T_PARA,     [GUMBO_TAG_BODY] = T_PARA,      [GUMBO_TAG_ARTICLE] = T_PARA,
    [GUMBO_TAG_SECTION] = T_PARA,  [GUMBO_TAG_H1] = T_PARA,        [GUMBO_TAG_H2] = T_PARA,
    [GUMBO_TAG_H3] = T_PARA,       [GUMBO_TAG_H4] = T_PARA,        [GUMBO_TAG_H5] = T_PARA,
    [GUMBO_TAG_H6] = T_PARA,       [GUMBO_TAG_HGROUP] = T_PARA,    [GUMBO_TAG_HEADER] = T_DROP,
    [GUMBO_TAG_ADDRESS] = T_PARA,  [GUMBO_TAG_P] = T_PARA,         [GUMBO_TAG_HR] = T_PARA,
    [GUMBO_TAG_BLOCKQUOTE] = T_PARA, [GUMBO_TAG_OL] = T_PARA,      [GUMBO_TAG_UL] = T_PARA,
    [GUMBO_TAG_DL] = T_PARA,       [GUMBO_TAG_FIGURE] = T_PARA,    [GUMBO_TAG_FIGCAPTION] = T_PARA,
    [GUMBO_TAG_MAIN] = T_PARA,     [GUMBO_TAG_DIV] = T_PARA,       [GUMBO_TAG_TABLE] = T_PARA,
    [GUMBO_TAG_CAPTION] = T_PARA,  [GUMBO_TAG_FORM] = T_PARA,      [GUMBO_TAG_FIELDSET] = T_PARA,
    [GUMBO_TAG_LEGEND] = T_PARA,   [GUMBO_TAG_DETAILS] = T_PARA,   [GUMBO_TAG_SUMMARY] = T_PARA,
    [GUMBO_TAG_DIR] = T_PARA,      [GUMBO_TAG_CENTER] = T_PARA,
    [GUMBO_TAG_LI] = T_LINE,       [GUMBO_TAG_DT] = T_LINE,        [GUMBO_TAG_DD] = T_LINE,
    [GUMBO_TAG_TR] = T_LINE,       [GUMBO_TAG_TD] = T_CELL,        [GUMBO_TAG_TH] = T_CELL,
    [GUMBO_TAG_BR] = T_BR,         [GUMBO_TAG_PRE] = T_PRE,        [GUMBO_TAG_LISTING] = T_PRE,
    [GUMBO_TAG_XMP] = T_PRE,       [GUMBO_TAG_PLAINTEXT] = T_PRE,
};

/* ---- emitter ---- */

typedef struct emitter {
    hlm_buf *out;
    hlm_buf held;  /* <pre>: spaces waiting for a visible character on the same line */
    int pending;
    hlm_status st; /* sticky: HLM_ERR_NOMEM once an append failed */
} emitter;

static void put(emitter *e, const void *p, size_t n)
{
    if (e->st == HLM_OK && hlm_buf_append(e->out, p, n)) e->st = HLM_ERR_NOMEM;
}

static void boundary(emitter *e, int level)
{
    if (level > e->pending) e->pending = level;
    e->held.len = 0;
}

/* Writes the pending separator (and held <pre> indentation) before visible text. */
static void flush_sep(emitter *e)
{
    if (e->out->len) {
        if (e->pending == SEP_PARA) put(e, "\n\n", 2);
        else if (e->pending == SEP_LINE) put(e, "\n", 1);
        else if (e->pending == SEP_SPACE && e->held.len == 0) put(e, " ", 1);
        if (e->held.len) put(e, e->held.data, e->held.len);
    }
    e->held.len = 0;
    e->pending = SEP_NONE;
}

/* Appends visible bytes s[0..n) (no whitespace among them), repairing invalid UTF-8. */
static void put_visible(emitter *e, const uint8_t *s, size_t n)
{
    if (e->pending || e->held.len) flush_sep(e);
    size_t run = 0, i = 0;
    while (i < n) {
        if (s[i] < 0x80 && s[i] != 0) {
            i++;
            continue;
        }
        uint32_t cp = 0;
        size_t k = s[i] ? hlm_utf8_decode_inline(s + i, n - i, &cp) : 1;
        if (s[i] && cp != HLM_CP_INVALID) {
            i += k;
            continue;
        }
        put(e, s + run, i - run);
        if (s[i]) put(e, "\xEF\xBF\xBD", 3);
        i += 1;
        run = i;
    }
    put(e, s + run, n - run);
}

/* Length of the whitespace unit at s[0..n): ASCII whitespace and U+00A0 collapse like spaces. */
static size_t space_len(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') return 1;
    if (c == 0xC2 && n >= 2 && s[1] == 0xA0) return 2;
    return 0;
}

static void text(emitter *e, const uint8_t *s, size_t n, int pre)
{
    size_t i = 0;
    while (i < n && e->st == HLM_OK) {
        size_t k = space_len(s + i, n - i);
        if (k) {
            if (!pre) {
                if (e->pending < SEP_SPACE) e->pending = SEP_SPACE;
            } else if (s[i] == '\n') {
                boundary(e, e->pending >= SEP_LINE ? SEP_PARA : SEP_LINE);
            } else if (s[i] != '\r' && e->out->len) {
                /* Indentation and inner spaces are kept, as ' ' (tabs stay tabs). */
                uint8_t c = s[i] == '\t' ? '\t' : ' ';
                if (hlm_buf_append(&e->held, &c, 1)) e->st = HLM_ERR_NOMEM;
            }
            i += k;
            continue;
        }
        size_t j = i + 1;
        while (j < n && !space_len(s + j, n - j)) j++;
        put_visible(e, s + i, j - i);
        i = j;
    }
}

/* Appends the text of node's text children to b, whitespace collapsed (for <title>). */
static hlm_status collapse_into(hlm_buf *b, const GumboNode *node)
{
    hlm_buf held = {0};
    emitter e = {.out = b, .held = held};
    const GumboVector *kids = &node->v.element.children;
    for (unsigned i = 0; i < kids->length; i++) {
        const GumboNode *k = kids->data[i];
        if (k->type == GUMBO_NODE_TEXT || k->type == GUMBO_NODE_WHITESPACE || k->type == GUMBO_NODE_CDATA)
            text(&e, (const uint8_t *)k->v.text.text, strlen(k->v.text.text), 0);
    }
    hlm_buf_free(&e.held);
    if (e.st == HLM_OK && hlm_buf_terminate(b)) e.st = HLM_ERR_NOMEM;
    return e.st;
}

/* ---- element rules ---- */

static const char *attr(const GumboElement *el, const char *name)
{
    const GumboAttribute *a = gumbo_get_attribute(&el->attributes, name);
    return a ? a->value : NULL;
}

static int id_starts_default(const GumboNode *n)
{
    if (n->type != GUMBO_NODE_ELEMENT) return 0;
    const char *id = attr(&n->v.element, "id");
    return id && strncmp(id, "default", 7) == 0;
}

/* LibreOffice help hides the variants of a passage inside <span class="switch"> or
 * "switchinline" and lets JavaScript show the one for the reader's platform or module. Where a
 * "default" variant exists (Ctrl vs Command), only it is shown; where the variants are per
 * module with no default (the Writer and the Impress wording), all are real text: shown. */
static int libreoffice_shown_case(const GumboNode *node)
{
    const GumboNode *parent = node->parent;
    if (!parent || parent->type != GUMBO_NODE_ELEMENT) return 0;
    const char *cls = attr(&parent->v.element, "class");
    if (!cls || !(has_token(cls, "switchinline") || has_token(cls, "switch"))) return 0;
    if (id_starts_default(node)) return 1;
    const GumboVector *kids = &parent->v.element.children;
    if (kids->length > 64) return 0; /* not a LibreOffice switch; and no quadratic sibling scans */
    for (unsigned i = 0; i < kids->length; i++)
        if (id_starts_default(kids->data[i])) return 0;
    return 1;
}

/* Inline elements that style words within a sentence: their class names the kind of text
 * (LibreOffice writes <span class="widget">OK</span> for a button label), not a page region. */
static const uint8_t PHRASING[GUMBO_TAG_LAST + 1] = {
    [GUMBO_TAG_SPAN] = 1, [GUMBO_TAG_EM] = 1,   [GUMBO_TAG_STRONG] = 1, [GUMBO_TAG_B] = 1,
    [GUMBO_TAG_I] = 1,    [GUMBO_TAG_U] = 1,    [GUMBO_TAG_CODE] = 1,   [GUMBO_TAG_KBD] = 1,
    [GUMBO_TAG_SAMP] = 1, [GUMBO_TAG_VAR] = 1,  [GUMBO_TAG_SMALL] = 1,  [GUMBO_TAG_ABBR] = 1,
    [GUMBO_TAG_CITE] = 1, [GUMBO_TAG_Q] = 1,    [GUMBO_TAG_MARK] = 1,   [GUMBO_TAG_SUB] = 1,
    [GUMBO_TAG_SUP] = 1,  [GUMBO_TAG_TIME] = 1, [GUMBO_TAG_FONT] = 1,   [GUMBO_TAG_TT] = 1,
    [GUMBO_TAG_DFN] = 1,  [GUMBO_TAG_BDI] = 1,  [GUMBO_TAG_BDO] = 1,    [GUMBO_TAG_ACRONYM] = 1,
    [GUMBO_TAG_BIG] = 1,  [GUMBO_TAG_S] = 1,    [GUMBO_TAG_STRIKE] = 1, [GUMBO_TAG_INS] = 1,
    [GUMBO_TAG_DEL] = 1,  [GUMBO_TAG_NOBR] = 1, [GUMBO_TAG_DATA] = 1,
};

/* 1 if the element (not its tag) marks itself hidden or as page chrome. */
static int dropped_by_attributes(const GumboNode *node, GumboTag tag)
{
    const GumboElement *el = &node->v.element;
    int structural = tag == GUMBO_TAG_HTML || tag == GUMBO_TAG_BODY || tag == GUMBO_TAG_MAIN ||
                     tag == GUMBO_TAG_ARTICLE || PHRASING[tag];
    for (unsigned i = 0; i < el->attributes.length; i++) {
        const GumboAttribute *a = el->attributes.data[i];
        const char *n = a->name, *v = a->value;
        switch (n[0]) {
        case 'h':
            if (strcmp(n, "hidden") == 0 && !libreoffice_shown_case(node)) return 1;
            break;
        case 'a':
            if (strcmp(n, "aria-hidden") == 0 && strcasecmp(v, "true") == 0) return 1;
            break;
        case 's':
            if (strcmp(n, "style") == 0 && style_hides(v)) return 1;
            break;
        case 'r':
            if (strcmp(n, "role") == 0 &&
                (strcasecmp(v, "navigation") == 0 || strcasecmp(v, "banner") == 0 ||
                 strcasecmp(v, "contentinfo") == 0 || strcasecmp(v, "menu") == 0 ||
                 strcasecmp(v, "menubar") == 0 || strcasecmp(v, "search") == 0 ||
                 strcasecmp(v, "toolbar") == 0 || strcasecmp(v, "dialog") == 0 ||
                 strcasecmp(v, "alert") == 0))
                return 1;
            break;
        case 'c':
            if (!structural && strcmp(n, "class") == 0 && chrome_attr(v)) return 1;
            break;
        case 'i':
            if (!structural && strcmp(n, "id") == 0 && chrome_attr(v)) return 1;
            break;
        }
    }
    return 0;
}

/* A table cell is simple (its paragraphs are joined by spaces) when it is small and holds no
 * table, list or preformatted block: a data cell rather than a layout cell. */
#define SIMPLE_CELL_NODES 64
#define SIMPLE_CELL_TEXT 400

static int simple_cell(const GumboNode *cell)
{
    const GumboNode *stack[SIMPLE_CELL_NODES];
    size_t sp = 0, seen = 0, text_bytes = 0;
    stack[sp++] = cell;
    while (sp) {
        const GumboNode *n = stack[--sp];
        if (++seen > SIMPLE_CELL_NODES) return 0;
        if (n->type == GUMBO_NODE_TEXT) {
            text_bytes += strlen(n->v.text.text);
            if (text_bytes > SIMPLE_CELL_TEXT) return 0;
            continue;
        }
        if (n->type != GUMBO_NODE_ELEMENT) continue;
        GumboTag t = n->v.element.tag;
        if (n != cell && (t == GUMBO_TAG_TABLE || t == GUMBO_TAG_UL || t == GUMBO_TAG_OL ||
                          t == GUMBO_TAG_DL || TAG_CLASS[t] == T_PRE))
            return 0;
        const GumboVector *kids = &n->v.element.children;
        for (unsigned i = 0; i < kids->length; i++) {
            if (sp == SIMPLE_CELL_NODES) return 0;
            stack[sp++] = kids->data[i];
        }
    }
    return 1;
}

/* gumbo 0.10 has no tag for <dialog>: it comes as GUMBO_TAG_UNKNOWN with its source text. */
static int is_dialog(const GumboElement *el)
{
    const GumboStringPiece *t = &el->original_tag;
    return t->length >= 8 && strncasecmp(t->data, "<dialog", 7) == 0 && !is_tag_name_char((uint8_t)t->data[7]);
}

/* ---- gumbo's memory ----
 *
 * gumbo allocates and frees a small block for nearly every token, attribute and string buffer
 * step (about a fifth of its time goes to malloc/free), and 0.10.1 leaks a few strings on some
 * malformed input. A per-call pool fixes both: blocks up to 4 KiB come from 64 KiB slabs with a
 * free list per power-of-two size class, bigger ones from malloc on a list; everything goes back
 * at once when the page is done. gumbo cannot handle allocation failure (it does not check), so
 * neither can this: a failed malloc returns NULL to it, as plain malloc would. */

#define POOL_CLASSES 9 /* 16, 32, ..., 4096 bytes */
#define POOL_SLAB (64u << 10)
#define POOL_BIG ((size_t)-1)

typedef struct pool_big {
    struct pool_big *prev, *next;
    size_t pad, tag; /* tag sits just before the user block, as for small blocks */
} pool_big;

typedef struct pool {
    uint8_t *slab;      /* current slab; its first 16 bytes link to the previous one */
    size_t used;
    void *free_list[POOL_CLASSES];
    pool_big big;       /* sentinel of the list of big blocks */
} pool;

static void *pool_alloc(void *userdata, size_t size)
{
    pool *p = userdata;
    if (size > ((size_t)16 << (POOL_CLASSES - 1))) {
        if (size > SIZE_MAX - sizeof(pool_big)) return NULL;
        pool_big *b = malloc(sizeof *b + size);
        if (!b) return NULL;
        b->tag = POOL_BIG;
        b->prev = &p->big;
        b->next = p->big.next;
        p->big.next->prev = b;
        p->big.next = b;
        return b + 1;
    }
    size_t c = size <= 16 ? 0 : (size_t)(64 - __builtin_clzll((unsigned long long)size - 1)) - 4;
    if (p->free_list[c]) {
        void **slot = p->free_list[c];
        p->free_list[c] = *slot;
        return (uint8_t *)slot + 16;
    }
    size_t need = 16 + ((size_t)16 << c);
    if (!p->slab || p->used + need > POOL_SLAB) {
        uint8_t *s = malloc(POOL_SLAB);
        if (!s) return NULL;
        *(uint8_t **)s = p->slab;
        p->slab = s;
        p->used = 16;
    }
    uint8_t *slot = p->slab + p->used;
    p->used += need;
    ((size_t *)slot)[1] = c;
    return slot + 16;
}

static void pool_free(void *userdata, void *ptr)
{
    pool *p = userdata;
    if (!ptr) return;
    size_t tag = ((size_t *)ptr)[-1];
    if (tag == POOL_BIG) {
        pool_big *b = (pool_big *)ptr - 1;
        b->prev->next = b->next;
        b->next->prev = b->prev;
        free(b);
        return;
    }
    void **slot = (void **)((uint8_t *)ptr - 16);
    *slot = p->free_list[tag];
    p->free_list[tag] = slot;
}

static void pool_init(pool *p)
{
    memset(p, 0, sizeof *p);
    p->big.next = p->big.prev = &p->big;
}

static void pool_destroy(pool *p)
{
    while (p->slab) {
        uint8_t *prev = *(uint8_t **)p->slab;
        free(p->slab);
        p->slab = prev;
    }
    for (pool_big *b = p->big.next; b != &p->big;) {
        pool_big *next = b->next;
        free(b);
        b = next;
    }
    pool_init(p);
}

/* ---- the walk ---- */

typedef struct frame {
    const GumboNode *node;
    unsigned next;   /* next child to visit */
    uint8_t close;   /* boundary level requested when the element ends */
    uint8_t cap;     /* highest boundary level for the children */
    uint8_t pre, article;
} frame;

hlm_status hlm_html_extract(const char *html, size_t len, hlm_buf *out, hlm_html_info *info, hlm_error *err)
{
    out->len = 0;
    if (info) {
        info->title.len = 0;
        info->lang.len = 0;
        if (hlm_buf_terminate(&info->title) || hlm_buf_terminate(&info->lang))
            return hlm_errorf(err, HLM_ERR_NOMEM, "html: out of memory");
    }
    if (hlm_buf_terminate(out)) return hlm_errorf(err, HLM_ERR_NOMEM, "html: out of memory");
    if (len > UINT32_MAX - 1)
        return hlm_errorf(err, HLM_ERR_FORMAT, "html: page of %zu bytes: expected at most 4 GiB", len);

    hlm_buf flat = {0};
    hlm_status st = HLM_OK;
    if (flatten_deep_nesting(html, len, NULL, &st) > MAX_NESTING) {
        flatten_deep_nesting(html, len, &flat, &st);
        if (st) {
            hlm_buf_free(&flat);
            return hlm_errorf(err, HLM_ERR_NOMEM, "html: out of memory");
        }
        html = (const char *)flat.data;
        len = flat.len;
    }

    pool mem;
    pool_init(&mem);
    GumboOptions opt = kGumboDefaultOptions;
    opt.allocator = pool_alloc;
    opt.deallocator = pool_free;
    opt.userdata = &mem;
    opt.max_errors = 0; /* parse errors are not reported: do not collect them */
    GumboOutput *g = gumbo_parse_with_options(&opt, html ? html : "", len);
    if (!g || !g->root || g->root->type != GUMBO_NODE_ELEMENT) {
        pool_destroy(&mem);
        hlm_buf_free(&flat);
        return hlm_errorf(err, HLM_ERR_FORMAT, "html: gumbo could not parse the page");
    }

    emitter e = {.out = out};
    size_t cap = 64, sp = 0;
    frame *stack = malloc(cap * sizeof *stack);
    if (!stack) e.st = HLM_ERR_NOMEM;

    const GumboNode *root = g->root;
    if (info && e.st == HLM_OK) {
        const char *lang = attr(&root->v.element, "lang");
        if (!lang) lang = attr(&root->v.element, "xml:lang");
        if (lang && (hlm_buf_append(&info->lang, lang, strlen(lang)) || hlm_buf_terminate(&info->lang)))
            e.st = HLM_ERR_NOMEM;
    }
    if (stack) stack[sp++] = (frame){.node = root, .close = SEP_PARA, .cap = SEP_PARA};

    while (sp && e.st == HLM_OK) {
        frame *f = &stack[sp - 1];
        const GumboVector *kids = &f->node->v.element.children;
        if (f->next >= kids->length) {
            boundary(&e, f->close);
            sp--;
            continue;
        }
        const GumboNode *n = kids->data[f->next++];
        if (n->type == GUMBO_NODE_TEXT || n->type == GUMBO_NODE_WHITESPACE || n->type == GUMBO_NODE_CDATA) {
            text(&e, (const uint8_t *)n->v.text.text, strlen(n->v.text.text), f->pre);
            continue;
        }
        if (n->type != GUMBO_NODE_ELEMENT) continue; /* comments, <template> contents */

        const GumboElement *el = &n->v.element;
        GumboTag tag = el->tag;
        int cls = (unsigned)tag <= GUMBO_TAG_LAST ? TAG_CLASS[tag] : T_INLINE;
        if (el->tag_namespace != GUMBO_NAMESPACE_HTML) cls = T_DROP; /* stray SVG/MathML */
        if (tag == GUMBO_TAG_HEADER && f->article) cls = T_PARA;
        if (tag == GUMBO_TAG_UNKNOWN && is_dialog(el)) cls = attr(el, "open") ? T_PARA : T_DROP;
        if (tag == GUMBO_TAG_TITLE && info && info->title.len == 0 && el->tag_namespace == GUMBO_NAMESPACE_HTML)
            e.st = collapse_into(&info->title, n);
        if (tag == GUMBO_TAG_HEAD && info && info->title.len == 0) {
            for (unsigned i = 0; i < el->children.length; i++) {
                const GumboNode *k = el->children.data[i];
                if (k->type == GUMBO_NODE_ELEMENT && k->v.element.tag == GUMBO_TAG_TITLE) {
                    e.st = collapse_into(&info->title, k);
                    break;
                }
            }
        }
        if (cls == T_DROP || dropped_by_attributes(n, tag)) continue;

        int cap_here = f->cap;
        if (cls == T_BR) {
            /* A second <br> in a row makes a blank line. */
            int level = e.pending >= SEP_LINE ? SEP_PARA : SEP_LINE;
            boundary(&e, level < cap_here ? level : cap_here);
            continue;
        }
        int open = SEP_NONE, child_cap = cap_here;
        switch (cls) {
        case T_PARA:
        case T_PRE: open = SEP_PARA; break;
        case T_LINE:
            open = SEP_LINE;
            /* A row leaves its cells alone: a layout cell keeps its paragraphs. */
            if (tag != GUMBO_TAG_TR && child_cap > SEP_LINE) child_cap = SEP_LINE;
            break;
        case T_CELL:
            if (simple_cell(n)) {
                open = SEP_SPACE;
                child_cap = SEP_SPACE;
            } else {
                open = SEP_PARA;
            }
            break;
        default: break;
        }
        if (open > cap_here) open = cap_here;
        if (open) boundary(&e, open);
        if (sp == cap) {
            frame *grown = realloc(stack, 2 * cap * sizeof *stack);
            if (!grown) {
                e.st = HLM_ERR_NOMEM;
                break;
            }
            stack = grown;
            cap *= 2;
            f = &stack[sp - 1];
        }
        stack[sp++] = (frame){
            .node = n,
            .close = (uint8_t)open,
            .cap = (uint8_t)child_cap,
            .pre = (uint8_t)(f->pre || cls == T_PRE),
            .article = (uint8_t)(f->article || tag == GUMBO_TAG_ARTICLE),
        };
    }

    free(stack);
    hlm_buf_free(&e.held);
    pool_destroy(&mem); /* the whole tree at once, instead of gumbo_destroy_output's walk */
    hlm_buf_free(&flat);
    if (e.st == HLM_OK && hlm_buf_terminate(out)) e.st = HLM_ERR_NOMEM;
    if (e.st) return hlm_errorf(err, e.st, "html: out of memory");
    return HLM_OK;
}

void hlm_html_info_free(hlm_html_info *info)
{
    if (!info) return;
    hlm_buf_free(&info->title);
    hlm_buf_free(&info->lang);
}
