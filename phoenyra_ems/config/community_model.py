"""Typed configuration of the energy community (``community:``; docs/community.md)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class CommunityMember:
    member_id: str
    site: str | None = None  # one of our sites: metered from its history
    csv: str | None = None  # an external metering point: 15-min CSV (relative to the config file)
    name: str = ""
    share_pct: float = 0.0  # static key only
    participation_pct: float = 100.0  # of its metered energy offered to this community
    other_communities: dict[str, float] = field(default_factory=dict)  # name -> participation_pct

    @property
    def kind(self) -> str:
        return "site" if self.site is not None else "external"


@dataclass(frozen=True, slots=True)
class CommunityPrice:
    mode: str = "fixed"  # fixed | dayahead
    fixed_eur_kwh: float = 0.12
    dayahead_factor: float = 1.0
    markup_eur_kwh: float = 0.0
    zone: str = "at"  # day-ahead zone of the shipped prices: at | de_lu


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    path: str = "data/community/ledger.db"  # backend sqlite: the ledger file
    key_dir: str = "data/community/keys"
    checkpoint_every: int = 96  # records between Merkle checkpoints (96: a day of 15-min intervals)
    backend: str = "sqlite"  # sqlite | postgresql
    dsn: str | None = None  # backend postgresql: libpq URI or key=value string, without the password
    password: str | None = field(default=None, repr=False)  # backend postgresql (!secret)

    @property
    def where(self) -> str:
        """The ledger's place for messages: the file, or the DSN (never the password)."""
        if self.backend == "sqlite":
            return self.path
        return str(self.dsn) if "://" in str(self.dsn) else f"postgresql {self.dsn}"


@dataclass(frozen=True, slots=True)
class CommunityConfig:
    community_id: str
    members: dict[str, CommunityMember]
    name: str = ""
    key: str = "dynamic"  # static | dynamic
    timezone: str = "Europe/Vienna"  # months are settled in this zone
    price: CommunityPrice = field(default_factory=CommunityPrice)
    ledger: LedgerConfig = field(default_factory=LedgerConfig)

    def shares(self) -> dict[str, float]:
        return {m: member.share_pct / 100.0 for m, member in self.members.items()}

    def participation(self) -> dict[str, float]:
        return {m: member.participation_pct / 100.0 for m, member in self.members.items()}
