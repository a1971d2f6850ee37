#!/usr/bin/env python3
"""Builds the labeled evaluation set for the PII detector (src/text/pii.c, tests/text/test_pii.c).

Output: tests/fixtures/pii/set.tsv, one sentence a line:

    text <TAB> labels

labels is a comma-separated list of TYPE:START:END with UTF-8 byte offsets (END exclusive).
TYPE is a PII type (email, phone, ip, rrn, card, account): that exact span must be found, with
that type. Or x-KIND for a look-alike (x-date, x-price, x-version, ...): nothing may be masked
inside it. Lines starting with '#' are comments.

Korean and English sentences, PII in varied formats and positions (start, middle, end, directly
attached Hangul particles, brackets, several in one line) and look-alikes: dates, times, prices,
versions, IP-like versions, order and tracking numbers, ISBNs, product codes, years and year
ranges, phone-like numbers with wrong prefixes or lengths, card-like numbers failing Luhn,
RRN-like numbers with impossible dates, business registration numbers, ... Look-alikes also
appear next to banking words, where account numbers are looked for.

The PII values are random (random.Random(seed)); no real person's data. Card numbers are made
Luhn-valid with real issuer prefixes; RRNs have valid dates and century digits.

Usage: python3 tools/gen_pii_fixtures.py [--seed N] [--out PATH]
"""
import argparse
import calendar
import os
import random

R = random.Random()


def digits(n, first="0123456789"):
    return R.choice(first) + "".join(R.choice("0123456789") for _ in range(n - 1))


# ---- PII values: each returns the text of one value ----

def mobile():
    pre = R.choices(["010", "011", "016", "017", "018", "019"], [80, 4, 4, 4, 4, 4])[0]
    mid = digits(4) if pre == "010" or R.random() < 0.5 else digits(3, "23456789")
    last = digits(4)
    f = R.choices(["-", " ", ".", "", "paren", "paren-close"], [55, 12, 8, 15, 5, 5])[0]
    if f == "":
        return pre + mid + last
    if f == "paren":
        return "(%s)%s%s-%s" % (pre, R.choice(["", " "]), mid, last)
    if f == "paren-close":
        return "%s)%s-%s" % (pre, mid, last)
    return f.join([pre, mid, last])


AREAS = ["02"] * 6 + ["031", "032", "033", "041", "042", "043", "044", "051", "052", "053", "054", "055",
                      "061", "062", "063", "064", "070"]


def landline():
    area = R.choice(AREAS)
    mid = digits(4 if area == "070" else R.choice([3, 4]), "23456789")
    last = digits(4)
    f = R.choices(["-", " ", ".", "paren", "paren-close"], [60, 12, 8, 12, 8])[0]
    if f == "paren":
        return "(%s)%s%s-%s" % (area, R.choice(["", " "]), mid, last)
    if f == "paren-close":
        return "%s)%s-%s" % (area, mid, last)
    return f.join([area, mid, last])


SERVICE = ["1588", "1577", "1544", "1566", "1599", "1600", "1644", "1661", "1666", "1670", "1688", "1800",
           "1811", "1833", "1855", "1877", "1899", "1522", "1533", "1551"]


def service():
    return R.choice(SERVICE) + "-" + digits(4)


def kr_intl():
    if R.random() < 0.7:
        nat = [R.choice(["10", "10", "10", "11", "16", "17"]), digits(4), digits(4)]
    else:
        a = R.choice(["2", "2", "31", "32", "51", "53", "62", "64", "70"])
        nat = [a, digits(4 if a == "70" else R.choice([3, 4]), "23456789"), digits(4)]
    f = R.choice(["-", " ", "-", " ", ".", "", "trunk", "kr0"])
    if f == "trunk":
        return "+82 (0)" + " ".join(nat)
    if f == "kr0":
        return "+82 0" + "-".join(nat)
    if f == "":
        return "+82" + "".join(nat)
    return "+82" + f + f.join(nat)


def intl():
    kind = R.randrange(9)
    if kind == 0:
        return "+1 %s %s %s" % (digits(3, "23456789"), digits(3, "23456789"), digits(4))
    if kind == 1:
        return "+1 (%s) %s-%s" % (digits(3, "23456789"), digits(3, "23456789"), digits(4))
    if kind == 2:
        return "+1-%s-%s-%s" % (digits(3, "23456789"), digits(3, "23456789"), digits(4))
    if kind == 3:
        return "+44 20 %s %s" % (digits(4), digits(4))
    if kind == 4:
        return "+81-%s-%s-%s" % (R.choice(["3", "6", "90", "80"]), digits(4), digits(4))
    if kind == 5:
        return "+86 1%s %s %s" % (digits(2), digits(4), digits(4))
    if kind == 6:
        return "+33 %s %s %s %s %s" % (R.choice("1234567"), digits(2), digits(2), digits(2), digits(2))
    if kind == 7:
        return "+49 30 %s" % digits(8)
    return "+1%s%s%s" % (digits(3, "23456789"), digits(3, "23456789"), digits(4))


def phone():
    return R.choices([mobile, landline, service, kr_intl, intl], [45, 20, 10, 13, 12])[0]()


NAMES = ["kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim", "hong", "minsu", "jiyoung",
         "sujin", "hyun", "john", "jane", "alex", "sam", "chris", "mina", "dev", "admin", "info", "help", "sales"]
DOMAINS = ["naver.com", "gmail.com", "daum.net", "hanmail.net", "kakao.com", "nate.com", "korea.ac.kr",
           "snu.ac.kr", "company.co.kr", "example.org", "mail.example-corp.com", "yahoo.co.jp", "outlook.com",
           "univ.edu", "startup.io", "shop.kr", "gov.kr"]


def email():
    local = R.choice(NAMES)
    r = R.random()
    if r < 0.3:
        local += digits(R.randint(2, 4))
    elif r < 0.45:
        local += R.choice([".", "_", "-"]) + R.choice(NAMES)
    elif r < 0.55:
        local += "+" + R.choice(["news", "shop", "tag1"])
    elif r < 0.62:
        local = digits(R.randint(6, 10))
    if R.random() < 0.1:
        local = local.capitalize()
    dom = R.choice(DOMAINS)
    if R.random() < 0.05:
        dom = dom.upper()
    return local + "@" + dom


def ipv4():
    kind = R.randrange(5)
    if kind == 0:
        q = [192, 168, R.randint(0, 255), R.randint(1, 254)]
    elif kind == 1:
        q = [10, R.randint(0, 255), R.randint(0, 255), R.randint(1, 254)]
    elif kind == 2:
        q = [172, R.randint(16, 31), R.randint(0, 255), R.randint(1, 254)]
    else:
        q = [R.randint(11, 223), R.randint(0, 255), R.randint(0, 255), R.randint(1, 254)]
    return ".".join(map(str, q))


def hexg(lo=1, hi=4):
    return "%x" % R.randint(16 ** (lo - 1) if lo > 1 else 0, 16 ** hi - 1)


def ipv6():
    kind = R.randrange(6)
    if kind == 0:
        s = ":".join("%04x" % R.randint(0, 0xFFFF) for _ in range(8))
    elif kind == 1:
        s = ":".join(hexg() for _ in range(8))
    elif kind == 2:
        s = "2001:db8::" + hexg()
    elif kind == 3:
        s = "fe80::%s:%s:%s:%s" % (hexg(3), hexg(), hexg(), hexg())
    elif kind == 4:
        s = "2001:%s:%s::%s:%s" % (hexg(3), hexg(), hexg(), hexg())
    else:
        s = "::ffff:" + ipv4()
    return s.upper() if R.random() < 0.15 else s


def ip():
    return ipv4() if R.random() < 0.65 else ipv6()


def rrn_parts(valid=True):
    cent = R.choices([1900, 2000, 1800], [70, 28, 2])[0]
    year = R.randint(30, 99) if cent == 1900 else R.randint(0, 23) if cent == 2000 else R.randint(80, 99)
    g = {1900: R.choice("1256"), 2000: R.choice("3478"), 1800: R.choice("90")}[cent]
    m = R.randint(1, 12)
    d = R.randint(1, calendar.monthrange(cent + year, m)[1])
    if not valid:
        bad = R.randrange(4)
        if bad == 0:
            m = R.randint(13, 19)
        elif bad == 1:
            m = 0
        elif bad == 2:
            d = calendar.monthrange(cent + year, m)[1] + R.randint(1, 3)
            if d > 31 or R.random() < 0.5:
                d = R.choice([32, 35, 40, 0])
        else:
            m, d = 2, 29 if not calendar.isleap(cent + year) else 30
    return "%02d%02d%02d" % (year, m, d), g + digits(6)


def rrn():
    a, b = rrn_parts()
    return a + R.choices(["-", " "], [88, 12])[0] + b


def luhn_fix(body):
    """Appends the check digit that makes body Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch)
        if i % 2 == 0:
            v *= 2
            if v > 9:
                v -= 9
        total += v
    return body + str((10 - total % 10) % 10)


CARD_KINDS = [  # (prefix chooser, length, grouping)
    (lambda: "4", 16, (4, 4, 4, 4)),
    (lambda: "4", 16, (4, 4, 4, 4)),
    (lambda: str(R.randint(51, 55)), 16, (4, 4, 4, 4)),
    (lambda: str(R.randint(2221, 2720)), 16, (4, 4, 4, 4)),
    (lambda: R.choice(["34", "37"]), 15, (4, 6, 5)),
    (lambda: R.choice(["6011", "65"]), 16, (4, 4, 4, 4)),
    (lambda: str(R.randint(3528, 3589)), 16, (4, 4, 4, 4)),
    (lambda: R.choice(["36", "38", "300", "305"]), 14, (4, 6, 4)),
    (lambda: "62", 16, (4, 4, 4, 4)),
    (lambda: "4", 13, (4, 4, 4, 1)),
]


def card_digits(valid=True):
    pre, n, grouping = R.choice(CARD_KINDS)
    p = pre()
    body = p + digits(n - 1 - len(p))
    num = luhn_fix(body)
    if not valid:
        num = num[:-1] + str((int(num[-1]) + R.randint(1, 9)) % 10)
    return num, grouping


def group(num, grouping, sep):
    out, i = [], 0
    for g in grouping:
        out.append(num[i:i + g])
        i += g
    return sep.join(out)


def card():
    num, grouping = card_digits()
    f = R.choices(["-", " ", ""], [45, 35, 20])[0]
    return num if f == "" else group(num, grouping, f)


BANKS = {  # bank name -> account groupings
    "국민은행": [(6, 2, 6), (3, 2, 4, 3)],
    "신한은행": [(3, 3, 6)],
    "우리은행": [(4, 3, 6)],
    "하나은행": [(3, 6, 5)],
    "농협": [(3, 4, 4, 2), (6, 2, 6)],
    "기업은행": [(3, 6, 2, 3)],
    "카카오뱅크": [(4, 2, 7)],
    "토스뱅크": [(4, 4, 4)],
    "SC제일은행": [(3, 2, 6)],
    "우체국": [(6, 2, 6)],
}


def account(bank=None):
    bank = bank or R.choice(list(BANKS))
    g = R.choice(BANKS[bank])
    first = "123456789"
    return "-".join(digits(n, first if i == 0 else "0123456789") for i, n in enumerate(g))


# ---- look-alikes: (kind, text) ----

def rand_date():
    y = R.randint(1990, 2025)
    m = R.randint(1, 12)
    d = R.randint(1, calendar.monthrange(y, m)[1])
    return y, m, d


def la_date():
    y, m, d = rand_date()
    f = R.randrange(13)
    return "date", [
        "%d-%02d-%02d" % (y, m, d), "%d.%02d.%02d" % (y, m, d), "%d.%d.%d." % (y, m, d), "%d/%02d/%02d" % (y, m, d),
        "%02d-%02d-%02d" % (y % 100, m, d), "%d년 %d월 %d일" % (y, m, d), "%02d/%02d/%d" % (m, d, y),
        "%02d-%02d-%d" % (d, m, y), "%d%02d%02d" % (y, m, d), "%d. %d. %d" % (y, m, d), "%02d.%02d.%02d" % (y % 100, m, d),
        "%d-%02d-%02dT%02d:%02d:%02d" % (y, m, d, R.randint(0, 23), R.randint(0, 59), R.randint(0, 59)),
        "%d.%02d.%02d ~ %d.%02d.%02d" % (y, m, d, y, m, min(d + 3, 28)),
    ][f]


def la_time():
    h, mi, s = R.randint(0, 23), R.randint(0, 59), R.randint(0, 59)
    return "time", R.choice([
        "%02d:%02d" % (h, mi), "%02d:%02d:%02d" % (h, mi, s), "오후 %d:%02d" % (h % 12 + 1, mi),
        "%02d:%02d-%02d:%02d" % (h, mi, (h + 1) % 24, mi), "%02d:%02d~%02d:%02d" % (h, mi, (h + 2) % 24, mi),
        "%02d:%02d:%02d.%03d" % (h, mi, s, R.randint(0, 999)), "%d시 %d분" % (h, mi)])


def comma(n):
    return "{:,}".format(n)


def la_price():
    n = R.randint(1, 99) * R.choice([100, 1000, 10000, 100000])
    return "price", R.choice([
        comma(n) + "원", "₩" + comma(n), "$" + comma(R.randint(1, 9999)) + ".%02d" % R.randint(0, 99),
        "%d.%d억" % (R.randint(1, 99), R.randint(1, 9)), "%d만 %d천원" % (R.randint(1, 99), R.randint(1, 9)),
        comma(R.randint(1000000, 99999999)) + "원", "%d원" % n, "USD " + comma(R.randint(1000, 99999)) + ".%02d" % R.randint(0, 99),
        "%d-%d원" % (R.choice([1500, 1600, 1800, 1000, 2000]), R.choice([2000, 2500, 3000])),
        "€%d.%02d" % (R.randint(1, 999), R.randint(0, 99)), "%d,%03d,%03d원" % (R.randint(1, 9), R.randint(0, 999), R.randint(0, 999))])


def la_version():
    a, b, c = R.randint(0, 20), R.randint(0, 30), R.randint(0, 200)
    return "version", R.choice([
        "%d.%d.%d" % (a, b, c), "v%d.%d.%d" % (a, b, c), "버전 %d.%d.%d" % (a, b, c),
        "Chrome %d.0.%d.%d" % (R.randint(90, 130), R.randint(4000, 6999), R.randint(1, 200)),
        "Python 3.%d.%d" % (R.randint(6, 13), R.randint(0, 12)), "iOS %d.%d.%d" % (R.randint(12, 18), R.randint(0, 6), R.randint(1, 3)),
        "%d.%d.%d-beta.%d" % (a, b, c, R.randint(1, 9))])


def la_ip_like():
    return "iplike", R.choice([
        "%d.%d.%d.%d.%d" % tuple(R.randint(0, 30) for _ in range(5)),
        "v%d.%d.%d.%d" % tuple(R.randint(0, 30) for _ in range(4)),
        "Windows 10.0.%d.%d" % (R.randint(10000, 22999), R.randint(1000, 9999)),
        "%d.%d.%d.%d" % (R.randint(256, 999), R.randint(0, 255), R.randint(0, 255), R.randint(0, 255)),
        "%d.%d.%d" % (R.randint(10, 255), R.randint(0, 255), R.randint(0, 255)),
        "%d.%d.%d.%d" % tuple(R.randint(1, 9) for _ in range(4)),
        "%d::%d" % (R.randint(0, 9), R.randint(0, 9)), "std::vector", "a::b::c"])


def la_order():
    y, m, d = rand_date()
    ymd = "%d%02d%02d" % (y, m, d)
    return "order", R.choice([
        ymd + digits(R.randint(4, 8)), "ORD-%s-%s" % (ymd, digits(6)), "%s-%s" % (ymd, digits(7)),
        "%s%s" % (ymd, digits(6)), "#" + ymd + digits(5), "No. %s" % digits(R.randint(10, 12), "123456789"),
        digits(R.choice([16, 17, 18, 20]), "123456789")])


def la_tracking():
    return "tracking", R.choice([
        digits(12, "3456789"), "%s-%s-%s" % (digits(4, "3456789"), digits(4), digits(4)),
        "%s %s %s" % (digits(4, "3456789"), digits(4), digits(4)), "1Z%s" % digits(16), digits(10, "6789")])


def la_isbn():
    pub = digits(R.randint(2, 5))
    title = digits(7 - len(pub))
    return "isbn", R.choice([
        "978-89-%s-%s-%d" % (pub, title, R.randint(0, 9)), "979-11-%s-%s-%d" % (pub, title, R.randint(0, 9)),
        "89-%s-%s-%d" % (pub, title, R.randint(0, 9)), "978%s" % digits(10), "ISBN-13: 979%s" % digits(10)])


def la_product():
    return "product", R.choice([
        "AB-010-%s-%sX" % (digits(4), digits(4)), "SM-G%dN" % R.randint(900, 999), "KB-%d-%s" % (R.randint(2000, 2025), digits(4)),
        "A%s-%s-%s" % (digits(2), digits(3), digits(3)), "P/N %s-%s-%s" % (digits(4), digits(4), digits(2)),
        "SKU%s" % digits(10), "MODEL-010-%s" % digits(4), "X%s-%s" % (digits(4), digits(4)),
        "010-%s-%s-A" % (digits(4), digits(4))])


def la_year():
    y = R.randint(1500, 2025)
    return "year", R.choice([
        "%d년" % y, "%d~%d" % (y, y + R.randint(1, 30)), "%d-%d년" % (y, y + R.randint(1, 60)),
        "%d-%d년대" % (y // 100 * 100, y // 100 * 100 + 100), "%d년대" % (y // 10 * 10), "%d-%d" % (y, y + R.randint(1, 40))])


def la_badphone():
    return "badphone", R.choice([
        "020-%s-%s" % (digits(4), digits(4)), "012-%s-%s" % (digits(4), digits(4)), "013-%s-%s" % (digits(4), digits(4)),
        "035-%s-%s" % (digits(3), digits(4)), "039-%s-%s" % (digits(3), digits(4)), "00-%s-%s" % (digits(4), digits(4)),
        "010-%s-%s" % (digits(2), digits(4)), "010-%s-%s" % (digits(4), digits(3)), "010%s" % digits(5),
        "1100-%s" % digits(4), "1400-%s" % digits(4), "%s-%s" % (digits(4, "2345789"), digits(4)),
        "12010-%s-%s" % (digits(4), digits(4)), "010-%s-%s" % (digits(4), digits(5)), "010-%s-%s-%s" % (digits(4), digits(4), digits(1)),
        "+%d" % R.randint(1, 999999), "+%d점" % R.randint(1, 99)])


def la_badcard():
    if R.random() < 0.7:
        num, grouping = card_digits(valid=False)
    else:
        num = luhn_fix(digits(15, "1789"))
        grouping = (4, 4, 4, 4)
    f = R.choice(["-", " ", ""])
    return "badcard", num if f == "" else group(num, grouping, f)


def la_badrrn():
    a, b = rrn_parts(valid=False)
    return "badrrn", a + R.choice(["-", "-", " "]) + b


def la_misc():
    return "misc", R.choice([
        "%d.%04d, %d.%04d" % (R.randint(33, 38), R.randint(0, 9999), R.randint(124, 131), R.randint(0, 9999)),
        "%d.%d%%" % (R.randint(0, 99), R.randint(0, 9)), "%d:%d" % (R.randint(0, 9), R.randint(0, 9)),
        "1+1", "+%d.%d%%" % (R.randint(0, 20), R.randint(0, 9)), digits(5, "0123456"),
        "제%s호" % digits(4),
        "%d-%d" % (R.randint(0, 9), R.randint(0, 9)), "%d×%d" % (R.randint(2, 99), R.randint(2, 99)),
        "%dx%dx%d mm" % (R.randint(10, 999), R.randint(10, 999), R.randint(10, 999)),
        "%d,%03d명" % (R.randint(1, 999), R.randint(0, 999)), "%dkm" % R.randint(1, 999)])


def la_bizreg():
    """Business registration numbers (3-2-5): not personal data, but shaped like an account."""
    return "bizreg", "%s-%s-%s" % (digits(3, "123456789"), digits(2), digits(5))


LOOKALIKES = [la_date, la_time, la_price, la_version, la_ip_like, la_order, la_tracking, la_isbn, la_product,
              la_year, la_badphone, la_badcard, la_badrrn, la_misc, la_bizreg]

# ---- sentence templates; {} is a slot ----

PARTICLES = ["", "", "", "로", "으로", "입니다", "이에요", "예요", "에게", "번", "(으)로", "이고", "은", "는", "만", "까지",
             "인데", "이요", "요"]

TEMPLATES = {
    "phone": [
        "연락처:{}", "연락처: {}", "전화번호는 {}{p}", "{}{p} 연락 주세요", "문의 {}", "제 번호 {}{p} 문자 주세요",
        "HP {}", "Tel. {}", "Call me at {} tomorrow.", "Phone: {}", "You can reach the office at {}.",
        "☎ {}", "[{}]", "({})", "고객센터({})", "번호가 바뀌었어요 {}{p}", "{}", "급하면 {}{p} 전화해", "휴대폰:{}, 집:{}",
        "대표번호 {} / 팩스 {}", "The number is {}, ext. 12.", "문자는 {}, 이메일은 {}", "<{}>",
        "연락주세요~{}~", "담당자 김민수 {}{p}", "{}{p} 연락바람!!", "전화 {}{p}요"],
    "email": [
        "이메일은{}{p}", "메일: {}", "{}{p} 보내주세요", "E-mail: {}", "Contact {} for details.", "<{}>",
        "문의사항은 {}{p} 부탁드립니다", "({})", "{}", "보낸사람:{}", "mailto:{}", "저한테 메일 좀 주세요 {}",
        "Send it to {}, thanks!", "자막 있으신 분 {}{p} 보내주세요ㅠㅠ", "ID {}", "담당자({}) 회신 바랍니다",
        "메일주소{}{p}", "cc: {}; {}"],
    "ip": [
        "서버 IP는 {}{p}", "접속 IP: {}", "from {} port 22", "http://{}:8080/index.html", "[{}]", "IP {}{p} 차단됨",
        "Failed password for root from {} port 51022 ssh2", "{} - - [12/Oct/2023:10:00:00 +0900] \"GET / HTTP/1.1\"",
        "게이트웨이 {}, DNS {}", "{}", "My IP is {}.", "접속기록: {}에서 로그인", "ping {}", "아이피{}{p}"],
    "rrn": [
        "주민번호 {}", "주민등록번호: {}", "{}{p}", "본인확인 {}", "RRN {}", "주민번호는{}{p}", "생년월일 및 번호 {}",
        "주민 {}", "신청서에 {} 적었어요", "({})", "Resident registration number {}."],
    "card": [
        "카드번호 {}", "카드 {}{p} 결제", "Card number: {}", "{}", "결제카드({})", "Visa {}", "카드번호는{}{p}",
        "Pay with {} exp 12/27", "신용카드: {}, 유효기간 08/26", "[{}]", "체크카드 {} 분실신고"],
}

ACCOUNT_TEMPLATES = [
    "{bank} {}", "{bank} {}{p}", "입금 계좌: {bank} {}", "계좌번호 {} ({bank})", "{} {bank} 예금주 홍길동",
    "송금은 {}{p} 해주세요 {bank}", "{bank}{}", "{bank} 계좌 {} 로 이체 부탁", "환불계좌: {}({bank})",
    "계좌 {}{p}", "account {}", "Bank account: {}", "Please transfer to acct {}.", "입금처 {bank} {} 홍길동",
    "{bank} {}, 금액 30,000원", "무통장입금 {bank} {}"]

LOOKALIKE_TEMPLATES = [
    "{}에 만났어요", "{}", "날짜: {}", "가격은 {}{p}", "버전 {}", "({})", "주문번호 {}", "운송장번호 {}{p}",
    "ISBN {}", "모델명 {}", "{} 기준", "at {} we", "It was {}.", "총 {}", "{}부터 시작합니다", "제품코드:{}",
    "{} 참고", "[{}]", "ref {}", "회차 {}", "결과는 {}", "{}까지 접수"]

BANK_LOOKALIKE_TEMPLATES = [
    "입금일 {}", "송금 수수료 {}", "은행 영업시간 {}", "{bank} 계좌 개설일 {}", "{bank} 이체 한도 {}",
    "account opened {}", "계좌 잔액 {}", "{bank} 앱 {}", "입금 확인 {} 완료"]

BANK_SAFE = [la_date, la_time, la_price, la_version, la_year, la_misc]


def fill(template, items):
    """items: list of (label, text). Returns (text, labels) with byte offsets."""
    out = b""
    labels = []
    parts = template.split("{}")
    assert len(parts) == len(items) + 1, template
    for i, part in enumerate(parts):
        part = part.replace("{p}", R.choice(PARTICLES)).replace("{bank}", R.choice(list(BANKS)))
        out += part.encode()
        if i < len(items):
            lab, text = items[i]
            b = text.encode()
            labels.append("%s:%d:%d" % (lab, len(out), len(out) + len(b)))
            out += b
    return out.decode(), labels


GEN = {"phone": phone, "email": email, "ip": ip, "rrn": rrn, "card": card}


def positive(kind):
    if kind == "account":
        t = R.choice(ACCOUNT_TEMPLATES)
        bank = R.choice(list(BANKS))
        t = t.replace("{bank}", bank)
        return fill(t, [("account", account(bank))])
    t = R.choice(TEMPLATES[kind])
    items = []
    for _ in range(t.count("{}")):
        v = GEN[kind]()
        while "({})" in t and ("(" in v or ")" in v):  # "((02) 123-4567)": the label would be ambiguous
            v = GEN[kind]()
        items.append((kind, v))
    if kind == "ip" and ":" in items[0][1]:
        t = t.replace("http://{}:", "http://[{}]:")  # IPv6 with a port is written in brackets
    return fill(t, items)


def lookalike():
    if R.random() < 0.15:
        t = R.choice(BANK_LOOKALIKE_TEMPLATES)
        lab, text = R.choice(BANK_SAFE)()
    else:
        t = R.choice(LOOKALIKE_TEMPLATES)
        lab, text = R.choice(LOOKALIKES)()
    return fill(t, [("x-" + lab, text)])


MIXED_TEMPLATES = [
    "{}에 {}{p} 전화했어요", "주문 {} / 연락처 {}", "{} 결제, 카드 {}", "이름 홍길동, 전화 {}, 메일 {}, 방문일 {}",
    "로그 {} / {} 접속", "{} 기준 가격 {}, 문의 {}", "{}, {}, {}", "버전 {} 배포 후 {}{p} 알려주세요"]


def mixed():
    t = R.choice(MIXED_TEMPLATES)
    items = []
    for _ in range(t.count("{}")):
        if R.random() < 0.5:
            kind = R.choice(["phone", "email", "ip", "card", "rrn"])
            items.append((kind, GEN[kind]()))
        else:
            lab, text = R.choice(LOOKALIKES)()
            items.append(("x-" + lab, text))
    return fill(t, items)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=20231012)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "pii", "set.tsv"))
    args = ap.parse_args()
    R.seed(args.seed)
    lines = []
    for kind in ["email", "phone", "ip", "rrn", "card", "account"]:
        for _ in range({"phone": 700, "account": 450}.get(kind, 400)):
            lines.append(positive(kind))
    for _ in range(1600):
        lines.append(lookalike())
    for _ in range(300):
        lines.append(mixed())
    R.shuffle(lines)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("# PII evaluation set: text<TAB>labels (TYPE:START:END, UTF-8 byte offsets; x-* = look-alike, "
                "must stay). Generated by tools/gen_pii_fixtures.py --seed %d; do not edit.\n" % args.seed)
        for text, labels in lines:
            assert "\t" not in text and "\n" not in text
            f.write(text + "\t" + ",".join(labels) + "\n")
    print("wrote %d lines to %s" % (len(lines), args.out))


if __name__ == "__main__":
    main()
