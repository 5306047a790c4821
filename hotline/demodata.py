"""Deterministic demo data: an employee directory, the IT staff, their posts and a rota.

Used by ``make serve`` (a few thousand employees) and by the store benchmark
(200,000). Everything comes from one seeded :class:`random.Random`, so the same
seed gives the same data on every machine and Python version ≥ 3.11.

The directory looks like a petrochemical plant's in Hangzhou: Chinese names
drawn by surname frequency, plant departments and their buildings, unique
desk extensions (4 digits while they fit, 6 digits beyond), a desk DID in the
company's number block whose last digits are the extension, unique mobiles from
blocks that phonenumbers accepts (``docs/cn-numbering.md`` §2 and §4), and
e-mail ids made from the employee number. Keys are built directly in the form
:mod:`hotline.callerid` produces, without calling phonenumbers per entry, which
is what makes 200,000 entries take a second or two; the tests check that the
normaliser agrees.

Pure: no I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, time
from itertools import accumulate

from hotline.directory import DirectoryEntry

__all__ = [
    "DEMO_AREA_CODE",
    "DemoPerson",
    "DemoPost",
    "DemoRota",
    "DemoStaff",
    "generate_directory",
    "generate_staff",
]

DEMO_AREA_CODE = "571"
"""Hangzhou. Configure the trunk area code to ``0571`` so local callers match."""

# Surname shares in percent, approximately as in the 2020 census ranking; they
# are renormalised over this list, so the top three come out at about 9.5 %
# (王 李 张 刘 陈 … ). Only the shape matters: a few very common names, a long tail.
_SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.1), ("张", 6.8), ("刘", 5.4), ("陈", 4.5), ("杨", 3.1),
    ("黄", 2.0), ("赵", 1.9), ("吴", 1.7), ("周", 1.7), ("徐", 1.4), ("孙", 1.3),
    ("马", 1.2), ("朱", 1.2), ("胡", 1.1), ("郭", 1.1), ("何", 1.0), ("林", 0.9),
    ("高", 0.9), ("罗", 0.9), ("郑", 0.8), ("梁", 0.8), ("谢", 0.7), ("宋", 0.6),
    ("唐", 0.6), ("许", 0.6), ("韩", 0.6), ("邓", 0.5), ("冯", 0.5), ("曹", 0.5),
    ("彭", 0.5), ("曾", 0.5), ("肖", 0.4), ("田", 0.4), ("董", 0.4), ("潘", 0.4),
    ("袁", 0.4), ("蔡", 0.4), ("蒋", 0.4), ("余", 0.4), ("于", 0.4), ("杜", 0.4),
    ("叶", 0.4), ("程", 0.3), ("魏", 0.3), ("苏", 0.3), ("吕", 0.3), ("丁", 0.3),
    ("任", 0.3), ("卢", 0.3), ("姚", 0.3), ("沈", 0.3), ("钟", 0.3), ("姜", 0.3),
    ("崔", 0.3), ("谭", 0.3), ("陆", 0.3), ("范", 0.2), ("汪", 0.2), ("廖", 0.2),
    ("石", 0.2), ("金", 0.2), ("韦", 0.2), ("贾", 0.2), ("夏", 0.2), ("付", 0.2),
    ("方", 0.2), ("邹", 0.2), ("熊", 0.2), ("白", 0.2), ("孟", 0.2), ("秦", 0.2),
    ("邱", 0.2), ("侯", 0.2), ("江", 0.2), ("尹", 0.2), ("薛", 0.2), ("闫", 0.2),
    ("段", 0.2), ("雷", 0.2), ("龙", 0.1), ("黎", 0.1), ("史", 0.1), ("陶", 0.1),
    ("贺", 0.1), ("毛", 0.1), ("郝", 0.1), ("顾", 0.1), ("龚", 0.1), ("邵", 0.1),
    ("万", 0.1), ("钱", 0.1), ("严", 0.1), ("戴", 0.1), ("莫", 0.1), ("孔", 0.1),
    ("欧阳", 0.05), ("司马", 0.01), ("上官", 0.01), ("诸葛", 0.01),
)
_SURNAME_CUM = tuple(accumulate(w for _, w in _SURNAMES))

_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉兰萍红鹏辉建国文斌宇浩凯健俊帆"
    "旭宁龙林欣怡佳雪琳晨阳波亮飞峰海鑫雨婷倩颖晶慧莉燕梅丹蕾薇璐思嘉子梓睿博志永春"
    "晓立成新东金云振家天泽昊然轩哲铭诗涵琪悦瑶彤岩松柏青虹荣德福祥安顺航远卫民兵江"
    "河山川利庆琦楠丰毅彬斐瑞"
)

# Department → (relative size, places where its people sit).
_DEPARTMENTS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("炼油一部", 14, ("常减压装置", "催化裂化装置", "炼油一部中控室")),
    ("炼油二部", 12, ("加氢裂化装置", "连续重整装置", "炼油二部中控室")),
    ("化工一部", 11, ("乙烯装置", "芳烃联合装置", "化工一部中控室")),
    ("化工二部", 9, ("聚乙烯装置", "聚丙烯装置", "化工二部中控室")),
    ("储运部", 8, ("罐区操作室", "铁路装车站", "码头调度室")),
    ("机动设备部", 7, ("机修车间", "电仪车间", "生产指挥中心")),
    ("热电部", 5, ("热电厂", "热电厂中控室")),
    ("水务部", 3, ("污水处理场", "循环水场")),
    ("安全环保部", 4, ("生产指挥中心", "消防站")),
    ("生产技术部", 4, ("生产指挥中心",)),
    ("质量检验中心", 5, ("化验楼",)),
    ("物资采购中心", 3, ("物资仓库", "行政楼")),
    ("工程建设部", 3, ("工程楼",)),
    ("信息中心", 2, ("信息大楼",)),
    ("财务部", 2, ("行政楼",)),
    ("人力资源部", 2, ("行政楼",)),
    ("行政办公室", 2, ("行政楼",)),
    ("党群工作部", 1, ("行政楼",)),
    ("研究院", 3, ("研究院大楼",)),
    ("销售公司", 4, ("销售大楼",)),
)
_DEPARTMENT_CUM = tuple(accumulate(size for _, size, _ in _DEPARTMENTS))
# Office buildings get a floor number; plant units and control rooms do not.
_BUILDINGS = frozenset({"行政楼", "信息大楼", "化验楼", "工程楼", "研究院大楼", "销售大楼", "生产指挥中心"})

# Mobile blocks valid in phonenumbers 9.0.43 (docs/cn-numbering.md §4), weighted
# toward the older, fuller blocks.
_MOBILE_BLOCKS: tuple[str, ...] = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "166", "173", "175", "176", "177", "178",
    "180", "181", "182", "183", "185", "186", "187", "188", "189",
    "191", "193", "195", "198", "199",
)

# The company's DID blocks: 0571-8876 + 4-digit extension, or 0571-88 + 6 digits.
_DID_PREFIX = {4: "8876", 6: "88"}
# 4-digit extensions 8800–8899 belong to the IT service desk (generate_staff).
_IT_BLOCK = range(8800, 8900)
_EXT4 = [n for n in range(2000, 9000) if n not in _IT_BLOCK]
_EXT6 = range(200000, 900000)


def generate_directory(
    n: int = 3000,
    seed: int = 2026,
    *,
    extension_share: float = 0.9,
    did_share: float = 0.75,
    mobile_share: float = 0.95,
) -> list[DirectoryEntry]:
    """``n`` employees, sorted by employee id, the same for the same seed.

    Extensions are unique (4 digits in 2000–8999 outside the IT block while
    they fit, otherwise 6 digits in 200000–899999); of those with an extension,
    ``did_share`` also have a direct-dial number ``+86 571 8876 <ext>`` (or
    ``88 <ext6>``). Mobiles are unique. Raises ``ValueError`` beyond 700,000
    extensions or 999,999 employees.
    """
    if n < 0 or n > 999_999:
        raise ValueError(f"n: expected 0–999,999 employees, got {n}")
    rng = random.Random(seed)
    ids = sorted(rng.sample(range(1, 1_000_000), n))
    surnames = rng.choices([s for s, _ in _SURNAMES], cum_weights=_SURNAME_CUM, k=n)
    given = rng.choices(_GIVEN, k=2 * n)
    two_char = [rng.random() < 0.75 for _ in range(n)]
    departments = rng.choices(_DEPARTMENTS, cum_weights=_DEPARTMENT_CUM, k=n)

    has_ext = [rng.random() < extension_share for _ in range(n)]
    n_ext = sum(has_ext)
    width = 4 if n_ext <= len(_EXT4) else 6
    pool = _EXT4 if width == 4 else _EXT6
    if n_ext > len(pool):
        raise ValueError(f"n: {n_ext} extensions do not fit in 6 digits")
    extensions = iter(rng.sample(pool, n_ext))
    has_mobile = [rng.random() < mobile_share for _ in range(n)]
    mobiles = iter(rng.sample(range(len(_MOBILE_BLOCKS) * 100_000_000), sum(has_mobile)))

    entries: list[DirectoryEntry] = []
    area, did_prefix = "+86" + DEMO_AREA_CODE, _DID_PREFIX[width]
    for i in range(n):
        name = surnames[i] + given[2 * i] + (given[2 * i + 1] if two_char[i] else "")
        department, _, places = departments[i]
        place = places[rng.randrange(len(places))]
        if place in _BUILDINGS:
            place = f"{place}{rng.randint(1, 6)}层"
        extension = desk = mobile = None
        if has_ext[i]:
            extension = str(next(extensions))
            if rng.random() < did_share:
                desk = (area + did_prefix + extension,)
        if has_mobile[i]:
            block, rest = divmod(next(mobiles), 100_000_000)
            mobile = f"+86{_MOBILE_BLOCKS[block]}{rest:08d}"
        entries.append(
            DirectoryEntry(
                employee_id=f"E{ids[i]:06d}", name=name, department=department, location=place,
                email=f"e{ids[i]:06d}@example.com", desk_numbers=desk or (),
                extension=extension, mobile=mobile,
            )
        )
    return entries


# --------------------------------------------------------------------------------
# IT staff, posts and the on-call rota


@dataclass(frozen=True, slots=True)
class DemoPerson:
    """A member of the IT service desk."""

    person_id: str
    """Login id (pinyin of the name)."""
    name: str
    """Chinese name."""
    mobile: str
    """Mobile, E.164 (the key form)."""
    extension: str
    """Desk extension in the IT block 8800–8899."""
    roles: tuple[str, ...]
    """Among ``operator``, ``engineer``, ``manager``, ``admin``."""
    email: str
    """E-mail address."""


@dataclass(frozen=True, slots=True)
class DemoPost:
    """A service category and who covers it."""

    code: str
    """Stable id, e.g. ``network``."""
    name: str
    """Chinese name shown to staff."""
    name_en: str
    """English name."""
    a_owner: str
    """``person_id`` of the A role (primary owner)."""
    b_backups: tuple[str, ...]
    """``person_id``\\ s of the B roles, in order of preference (1–3)."""


@dataclass(frozen=True, slots=True)
class DemoRota:
    """A weekly on-call rotation."""

    name: str
    """Rota name."""
    period: str
    """``weekly``."""
    handover_weekday: int
    """Day of the handover, 0 = Monday."""
    handover_time: time
    """Local time of the handover (site timezone)."""
    start: date
    """First handover; ``members[0]`` is on call from then."""
    members: tuple[str, ...]
    """``person_id``\\ s in rotation order."""
    manager: str
    """``person_id`` at the end of the escalation chain."""


@dataclass(frozen=True, slots=True)
class DemoStaff:
    """Everything :func:`generate_staff` returns."""

    people: tuple[DemoPerson, ...]
    posts: tuple[DemoPost, ...]
    rotas: tuple[DemoRota, ...]


# 19 people, as the service desk the hotline replaces: one manager, an
# administrator, four operators who take calls, thirteen engineers.
_STAFF: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("wangjun", "王军", ("manager",)),
    ("lihua", "李华", ("admin", "engineer")),
    ("chenjing", "陈静", ("operator",)),
    ("huangmin", "黄敏", ("operator",)),
    ("zhouting", "周婷", ("operator",)),
    ("sunli", "孙丽", ("operator",)),
    ("zhangwei", "张伟", ("engineer",)),
    ("liuyang", "刘洋", ("engineer",)),
    ("yangfan", "杨帆", ("engineer",)),
    ("zhaolei", "赵磊", ("engineer",)),
    ("wuhao", "吴浩", ("engineer",)),
    ("xuming", "徐明", ("engineer",)),
    ("maqiang", "马强", ("engineer",)),
    ("zhuyan", "朱艳", ("engineer",)),
    ("hujie", "胡杰", ("engineer",)),
    ("guopeng", "郭鹏", ("engineer",)),
    ("hexin", "何欣", ("engineer",)),
    ("linfeng", "林峰", ("engineer",)),
    ("luoyu", "罗宇", ("engineer",)),
)

_POSTS: tuple[tuple[str, str, str], ...] = (
    ("network", "网络", "Network"),
    ("wifi", "无线网络", "Wi-Fi"),
    ("desktop", "桌面终端", "Desktop and laptop"),
    ("printer", "打印复印", "Printers and copiers"),
    ("email", "电子邮件", "E-mail"),
    ("account", "账号密码", "Accounts and passwords"),
    ("vpn", "VPN远程接入", "VPN and remote access"),
    ("security", "信息安全", "Security and malware"),
    ("oa", "OA办公系统", "Office automation (OA)"),
    ("erp", "ERP系统", "ERP"),
    ("mes", "MES系统", "MES"),
    ("lims", "LIMS实验室系统", "Laboratory system (LIMS)"),
    ("dcs", "DCS/工控系统", "DCS and OT"),
    ("phone", "电话通信", "Telephony"),
    ("video", "视频会议", "Video conferencing"),
    ("cctv", "视频监控", "CCTV"),
    ("server", "服务器存储", "Servers and storage"),
    ("database", "数据库", "Databases"),
    ("software", "软件安装", "Software installation"),
    ("hr_finance", "人事财务系统", "HR and finance systems"),
)


def generate_staff(seed: int = 2026) -> DemoStaff:
    """The IT service desk: 19 people, 20 posts with A/B roles, one weekly rota.

    Every engineer is A on at least one post (A roles go round the shuffled
    engineers, the administrator among them); each post gets 1–3 B roles among
    the other engineers. The rota runs over the engineers but the administrator,
    handing over on Mondays at 08:30, with the manager last in the escalation
    chain.
    """
    rng = random.Random(seed)
    mobiles = rng.sample(range(len(_MOBILE_BLOCKS) * 100_000_000), len(_STAFF))
    people = []
    for index, ((person_id, name, roles), number) in enumerate(zip(_STAFF, mobiles, strict=True)):
        block, rest = divmod(number, 100_000_000)
        people.append(
            DemoPerson(
                person_id=person_id, name=name, mobile=f"+86{_MOBILE_BLOCKS[block]}{rest:08d}",
                extension=str(_IT_BLOCK.start + 1 + index), roles=roles,
                email=f"{person_id}@example.com",
            )
        )
    engineers = [p.person_id for p in people if "engineer" in p.roles]
    owners = engineers[:]
    rng.shuffle(owners)
    posts = []
    for index, (code, name, name_en) in enumerate(_POSTS):
        a_owner = owners[index % len(owners)]
        others = [e for e in engineers if e != a_owner]
        b_backups = tuple(rng.sample(others, rng.randint(1, 3)))
        posts.append(DemoPost(code, name, name_en, a_owner, b_backups))
    manager = next(p.person_id for p in people if "manager" in p.roles)
    rota_members = [e for e in engineers if e != "lihua"]
    rng.shuffle(rota_members)
    rota = DemoRota(
        name="IT值班", period="weekly", handover_weekday=0, handover_time=time(8, 30),
        start=date(2026, 1, 5), members=tuple(rota_members), manager=manager,
    )
    return DemoStaff(people=tuple(people), posts=tuple(posts), rotas=(rota,))
