#!/usr/bin/env python3
"""Builds one plain-text corpus from unpacked documentation packages (the `make demo` corpus).

usage: demo_corpus.py [--heldout HELDOUT.txt] OUT.txt PACKAGE_ROOT...

Each PACKAGE_ROOT is a folder that `dpkg -x` filled. With --heldout, every 10th document goes
there instead of OUT.txt (text to measure a tokenizer on that it was not trained on). Text is
taken from:
  - HTML pages (.html, .htm, .xhtml, .xhp): the visible text, one paragraph per block element,
    paragraphs separated by a blank line. script/style/head and page chrome (header, nav, aside,
    footer, DocBook navheader/navfooter, hidden elements) are dropped: they repeat on every page.
  - plain text (.txt), only for packages that ship no HTML: where both exist they are two
    renderings of one manual (debian-faq-ko has the FAQ as HTML and as .txt.gz).
  - any of these gzip-compressed (.gz), decompressed.
Debian packaging files (copyright, changelogs) are not documentation and are skipped.
Documents are written in sorted path order, separated by a blank line, so the corpus is the
same on every run. Prints per-package statistics: files, bytes, Hangul share by bytes.

Only the Python standard library is used.
"""
import gzip
import html.parser
import os
import re
import sys

HTML_EXT = (".html", ".htm", ".xhtml", ".xhp")
TEXT_EXT = (".txt",)
# Elements whose text is not shown, or is navigation repeated on every page.
DROP = {"script", "style", "head", "noscript", "template", "header", "footer", "nav", "aside",
        "svg", "object", "iframe", "select", "button"}
DROP_CLASSES = {"navheader", "navfooter", "debug"}
# Elements that start a new paragraph.
BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "dl", "dt", "dd", "tr",
         "table", "thead", "tbody", "section", "article", "main", "blockquote", "pre", "br", "hr",
         "figure", "figcaption", "caption", "body", "title", "td", "th",
         # LibreOffice .xhp (help source XML)
         "paragraph", "section", "tablerow", "listitem", "bookmark"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
        "source", "track", "wbr"}
PACKAGING = re.compile(r"(^|/)(copyright|changelog[^/]*|NEWS\.Debian[^/]*|README\.Debian[^/]*)$")


class VisibleText(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # open elements: (tag, dropped)
        self.drop_depth = 0      # > 0 while inside a dropped element
        self.pre_depth = 0
        self.paragraphs = []
        self.current = []

    def _break(self):
        text = "".join(self.current)
        self.current = []
        if self.pre_depth == 0:
            text = re.sub(r"\s+", " ", text).strip()
        else:
            text = text.strip("\n")
        if text.strip():
            self.paragraphs.append(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        style = (a.get("style") or "").replace(" ", "").lower()
        dropped = (tag in DROP or classes & DROP_CLASSES or "hidden" in a
                   or "display:none" in style)
        if tag in BLOCK and not self.drop_depth:
            self._break()
        if tag in VOID:
            return
        self.stack.append((tag, bool(dropped)))
        if dropped:
            self.drop_depth += 1
        if tag == "pre" and not self.drop_depth:
            self.pre_depth += 1

    def handle_startendtag(self, tag, attrs):
        if tag in BLOCK and not self.drop_depth:
            self._break()

    def handle_endtag(self, tag):
        # Close the nearest open element of this name (and whatever was left open inside it).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                break
        else:
            return
        while len(self.stack) > i:
            t, dropped = self.stack.pop()
            if dropped:
                self.drop_depth -= 1
            elif t == "pre" and not self.drop_depth:
                self.pre_depth = max(0, self.pre_depth - 1)
            if t in BLOCK and not self.drop_depth:
                self._break()

    def handle_data(self, data):
        if not self.drop_depth:
            self.current.append(data)

    def text(self):
        self._break()
        return "\n\n".join(self.paragraphs)


def html_text(data):
    p = VisibleText()
    p.feed(data)
    p.close()
    return p.text()


def read_doc(path):
    """(kind, text) of a documentation file, kind 'html' or 'text'; None if it is not one."""
    name = path[:-3] if path.endswith(".gz") else path
    lower = name.lower()
    if lower.endswith(HTML_EXT):
        kind = "html"
    elif lower.endswith(TEXT_EXT):
        kind = "text"
    else:
        return None
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8", errors="replace")
    if kind == "html":
        text = html_text(text)
    else:
        text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip("\n")
    return kind, text


def is_hangul(ch):
    c = ord(ch)
    return (0xAC00 <= c <= 0xD7A3 or 0x1100 <= c <= 0x11FF or 0x3130 <= c <= 0x318F
            or 0xA960 <= c <= 0xA97F or 0xD7B0 <= c <= 0xD7FF)


def stats(text):
    total = len(text.encode("utf-8"))
    hangul = sum(3 for ch in text if is_hangul(ch))  # all Hangul code points are 3 bytes in UTF-8
    return total, hangul


def package_docs(root):
    files = []
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p) and not PACKAGING.search(p):
                files.append(p)
    files.sort()
    docs = []
    for p in files:
        got = read_doc(p)
        if got and got[1].strip():
            docs.append((p, got[0], got[1]))
    if any(kind == "html" for _, kind, _ in docs):
        docs = [d for d in docs if d[1] == "html"]
    return docs


class Output:
    """A corpus file written atomically: documents separated by a blank line."""

    def __init__(self, path):
        self.path, self.tmp = path, path + ".tmp"
        self.f = open(self.tmp, "w", encoding="utf-8", newline="\n")
        self.docs = self.bytes = self.hangul = 0

    def add(self, text):
        if self.docs:
            self.f.write("\n\n")
        self.f.write(text)
        t, h = stats(text)
        self.docs, self.bytes, self.hangul = self.docs + 1, self.bytes + t, self.hangul + h

    def commit(self):
        self.f.write("\n")
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)


def row(name, docs, total, hangul):
    return f"{name:<24} {docs:>9} {total:>12,} {100.0 * hangul / max(total, 1):>11.1f}%"


def main(argv):
    args = argv[1:]
    heldout_path = None
    if len(args) >= 2 and args[0] == "--heldout":
        heldout_path, args = args[1], args[2:]
    if len(args) < 2 or args[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    out, roots = args[0], args[1:]
    for root in roots:
        if not os.path.isdir(root):
            print(f"demo_corpus: {root}: not a folder (expected a package unpacked with dpkg -x)",
                  file=sys.stderr)
            return 1
    train = Output(out)
    heldout = Output(heldout_path) if heldout_path else None
    lines = [f"{'package':<24} {'documents':>9} {'text bytes':>12} {'Hangul share':>12}"]
    k = 0
    for root in roots:
        docs = package_docs(root)
        total = hangul = 0
        for _, _, text in docs:
            k += 1
            (heldout if heldout and k % 10 == 0 else train).add(text)
            t, h = stats(text)
            total, hangul = total + t, hangul + h
        lines.append(row(os.path.basename(os.path.normpath(root)), len(docs), total, hangul))
    lines.append(row("training corpus", train.docs, train.bytes, train.hangul) + f"   {out}")
    if heldout:
        lines.append(row("held out (every 10th)", heldout.docs, heldout.bytes, heldout.hangul)
                     + f"   {heldout_path}")
        heldout.commit()
    train.commit()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
