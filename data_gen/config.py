"""Typed scenario configuration, validated once at the edge (CLI or YAML).

A scenario fully determines a dataset together with the seed (and the generator version).
Behavioural constants live in two places, and nowhere else:

- Scenario fields, here: the knobs a user would plausibly vary, each validated, with its
  default and the source or reason beside it. Population mix, graph size and shape,
  activity volumes, abuse rates with their mimicry and intensity, the harm section (groomer
  rate and level mix, the per-level offender behaviour: children contacted and where they
  come from (region, own circle), direct-first share, rapport hours and messages, moving
  off-platform, the persona's mimicry and account age; responses, reports, clusters, viral
  cascades, benign look-alikes), drift, labels and splits.
- Named module constants (UPPER_CASE, at the top of the module that uses them): the shapes
  around those knobs. The recipient model's logit weights and the benign volumes and mixes
  (activity.py), ages, profiles and communities (population.py), graph contexts
  (friendships.py), daily rhythms (rhythm.py), payload sizes (events.py), cascade shapes
  (cascade.py), report reasons and forwarding (simulate.py), and each actor's volumes,
  ages, profiles and report factors (actors/*.py). Each carries its unit and its source, or
  says "calibration: chosen so that ..." or "arbitrary". Changing one changes datasets (bump
  generate.GENERATOR_VERSION); make it a field here when users need to vary it.

Generator stages receive the validated model and read no files; literals left in function
bodies are not behavioural (0 and 1, array axes, bit widths, unit conversions).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PRESETS = ("quick", "standard", "large")


class ScenarioError(ValueError):
    """Bad scenario input (unknown name, broken YAML, invalid field): the CLI exits 2."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationConfig(_Strict):
    # ~15% of accounts are 13-17: teens are heavy social-media users (Pew 2023) while
    # adults dominate account counts.
    minor_share: float = Field(0.15, ge=0.0, le=0.6)
    # Under-13s are barred but present; they lie about their age to sign up.
    under13_share: float = Field(0.01, ge=0.0, le=0.1)
    # Share of minors who assert an adult age (common to unlock features).
    minor_over_assert: float = Field(0.2, ge=0.0, le=1.0)
    accounts_per_region: int = Field(25_000, ge=100)
    web_share: float = Field(0.25, ge=0.0, le=1.0)
    anonymizer_share: float = Field(0.03, ge=0.0, le=1.0)
    # Accounts that signed up inside the window (the rest are established).
    new_account_share: float = Field(0.06, ge=0.0, le=1.0)


class GraphConfig(_Strict):
    # Facebook's median is ~100 friends (Ugander et al. 2011); scaled down so that 1M
    # accounts stay a one-machine dataset while neighbourhoods remain informative.
    mean_degree: float = Field(24.0, gt=1.0, le=500.0)
    # Lognormal sociability: heavy-tailed degrees, max far above the median.
    degree_sigma: float = Field(1.0, ge=0.0, le=2.5)
    max_degree: int = Field(5_000, ge=10)
    school_size: int = Field(250, ge=10)
    workplace_size: int = Field(40, ge=3)
    local_group_size: int = Field(600, ge=10)
    # Share of friendship stubs closed over a friend-of-friend (triadic closure).
    triadic_share: float = Field(0.3, ge=0.0, le=0.9)
    # Share of stubs matched to an account of similar sociability in the same age band;
    # this is what makes degree assortativity positive, as measured on real OSNs.
    assortative_share: float = Field(0.25, ge=0.0, le=0.9)
    friendship_history_days: int = Field(1_500, ge=1, le=3_000)


class ActivityConfig(_Strict):
    days: int = Field(56, ge=7, le=366)
    requests_per_account: float = Field(1.2, ge=0.0, le=100.0)
    # Share of benign accounts that send many requests (new students, networkers): the
    # benign look-alikes of spam's one-to-many pattern.
    heavy_requester_share: float = Field(0.03, ge=0.0, le=0.5)
    conversations_per_account: float = Field(3.0, ge=0.0, le=100.0)
    messages_per_conversation: float = Field(5.0, ge=1.0, le=1000.0)
    group_messages_per_account: float = Field(2.0, ge=0.0, le=100.0)
    groups_per_account: float = Field(1.5, ge=0.0, le=50.0)
    # Benign accounts that post many links (news sharers, small businesses).
    link_sharer_share: float = Field(0.05, ge=0.0, le=0.5)
    # Probability that a benign interaction draws a report (false reports exist).
    benign_report_rate: float = Field(2e-4, ge=0.0, le=0.1)
    # Small closed groups that ordinary people found (friends, families, teams), per
    # account: ~1 in 40 founds one of 3-8 members. Without them a closed group would be an
    # offender cluster's signature rather than a behaviour (docs/design.md, artefacts).
    closed_groups_per_account: float = Field(0.025, ge=0.0, le=1.0)


class AbuseConfig(_Strict):
    """Prevalent abuse as in DEC (Xu et al. 2021): ~5% of accounts combined (paper 7.2.3)."""

    spam: float = Field(0.02, ge=0.0, le=0.3)
    scam: float = Field(0.01, ge=0.0, le=0.3)
    fake: float = Field(0.015, ge=0.0, le=0.3)
    compromised: float = Field(0.005, ge=0.0, le=0.3)
    # Share of each abuse type that mimics benign behaviour (older accounts, low volume,
    # full profiles). DEC reports AUROC ~0.90 only with many features together, so no
    # single statistic may separate a task; this knob and the benign look-alikes are the
    # calibration levers for the spam operating point (paper 7.2.2).
    mimicry_share: float = Field(0.15, ge=0.0, le=1.0)
    # Spread of plain actors' intensity (sigma of a mean-one lognormal): the larger, the more
    # plain actors run at benign-like volumes. The second calibration lever with mimicry_share.
    intensity_sigma: float = Field(2.0, ge=0.0, le=3.0)
    # Per-recipient probability of reporting an abusive interaction.
    report_rate: float = Field(0.01, ge=0.0, le=1.0)
    # Hours by which a compromised account's new operator keeps a different clock from its
    # owner (another time zone). 0: the attacker acts at the owner's hours, so time of day
    # is no tell; a shift turns the hour into a deliberate, documented signal.
    attacker_hour_shift: int = Field(0, ge=-12, le=12)

    @model_validator(mode="after")
    def _combined(self) -> AbuseConfig:
        if self.spam + self.scam + self.fake + self.compromised > 0.5:
            raise ValueError("abuse: spam + scam + fake + compromised must be <= 0.5")
        return self


def _check_mix(mix: tuple[float, ...], section: str) -> None:
    if any(p < 0 for p in mix) or abs(sum(mix) - 1) > 1e-6:
        raise ValueError(f"{section}.sophistication_mix: four shares (L0..L3) >= 0 that sum to 1")


Levels = tuple[float, float, float, float]  # one value per groomer level, L0..L3
# Days: the oldest account the generator makes (~8 years; population.py caps established
# accounts at it). Arbitrary: a long-lived account; graph.friendship_history_days has the
# same ceiling.
MAX_ACCOUNT_AGE_DAYS = 3000
# (field, low, high, low included) for HarmConfig's per-level fields.
_LEVEL_RANGES = (
    ("persona_everyday", 0.0, 1.0, True),
    ("persona_family_ties", 0.0, 1.0, True),
    ("persona_minor_schedule", 0.0, 1.0, True),
    ("persona_sociability", 0.0, 5.0, False),
    ("targets_median", 0.0, 10_000.0, False),
    ("targets_sigma", 0.0, 3.0, True),
    ("direct_first", 0.0, 1.0, True),
    ("rapport_hours", 0.0, 24.0 * 365, False),
    ("rapport_messages", 0.0, 1_000.0, True),
    ("off_platform_before_image", 0.0, 1.0, True),
    ("local_targets", 0.0, 1.0, True),
    ("circle_targets", 0.0, 1.0, True),
)


class HarmConfig(_Strict):
    """Rare groomers and the benign accounts that look like them (paper 7.2.3-7.2.7, 8.1).

    Where a measurement exists, a default comes from a biased sample (decoy chats, police
    cases, hotline reports, surveys), cited beside it; where none exists, the comment says
    the value is a choice. No default is tuned toward a detection figure."""

    # No measurement of the offender base rate exists (docs/design.md): a knob, 1e-6 .. 1e-2.
    groomer_rate: float = Field(1e-4, ge=1e-6, le=1e-2)
    # L0 cartoon, L1 opportunist, L2 child persona, L3 competent persona. NCMEC 2017: ~20%
    # of 5,863 enticement reports involved offenders pretending to be younger (L2 + L3).
    sophistication_mix: tuple[float, float, float, float] = (0.3, 0.5, 0.12, 0.08)
    # Response to a cold approach: most leave, block or ignore; ~1 in 4 stay in contact
    # with someone who made them uncomfortable (YISS-2 Wolak 2006; Thorn 2022).
    engage_cold: float = Field(0.25, ge=0.0, le=1.0)
    # Personas that a child accepted as a peer keep the conversation far more often.
    engage_persona: float = Field(0.7, ge=0.0, le=1.0)
    # ~1 in 4 reached minors share images (Thorn 2022): the harm event.
    image_exchange: float = Field(0.25, ge=0.0, le=1.0)
    # ~2/3 of pairs are asked to move off-platform after rapport (Thorn 2022: 65%).
    move_off_platform: float = Field(0.65, ge=0.0, le=1.0)
    # Disclosure: most victims tell no one (56%), ~5% reach authorities (YISS-2); a report
    # to the platform after harm is rare and late. Cold approaches are reported a little
    # more often by the children who found them creepy.
    report_after_harm: float = Field(0.08, ge=0.0, le=1.0)
    report_cold_approach: float = Field(0.01, ge=0.0, le=1.0)
    # Share of groomers in small offender clusters with a closed group of their own.
    cluster_share: float = Field(0.2, ge=0.0, le=1.0)
    # Viral media cascades (viral_sharer task): cascades started per account, friends the
    # first poster and each later sharer send it to, chance a recipient forwards it on
    # (fanout x forward ~ 1: cascades neither die at once nor swallow the platform), and
    # chance a recipient reports it.
    viral_cascades_per_account: float = Field(1e-4, ge=0.0, le=1e-2)
    viral_seed_fanout: float = Field(10.0, ge=0.0, le=500.0)
    viral_fanout: float = Field(1.5, ge=0.0, le=50.0)
    viral_forward: float = Field(0.65, ge=0.0, le=1.0)
    viral_report: float = Field(0.03, ge=0.0, le=1.0)
    # Benign look-alikes, never positive: adults who message many children (coaches,
    # teachers, relatives) and teen couples exchanging images. Share of accounts drawn for
    # each role; only minors keep the teen-couple role, so its realised share is lower.
    lookalike_adults: float = Field(0.003, ge=0.0, le=0.05)
    lookalike_teen_couples: float = Field(0.004, ge=0.0, le=0.05)
    # Mimicry, per level L0..L3: how closely the persona copies the account it presents.
    # Whether real competent groomers are separable in metadata is unknown (paper 7.2.6),
    # so how much the simulated ones are is set here, in the open, and measured by
    # `lowbase inspect --separability`. The defaults are the levels' descriptions (paper
    # 8.1.1; Kloess et al. 2019), not fitted to any detection figure.
    # Ordinary (benign-looking) activity kept beside the grooming: 1 = a full everyday life
    # (conversations, groups, requests) with the grooming traffic on top of it.
    persona_everyday: Levels = (1.0, 1.0, 1.0, 1.0)
    # Sociability (friend count and activity volume) relative to the account drawn: the
    # cartoon throwaway has few friends, a part-built persona fewer than a real child.
    persona_sociability: Levels = (0.2, 1.0, 0.6, 1.0)
    # Chance the account keeps its family ties on the platform (parents, relatives). An
    # offender's account shows none by default: a faint anomaly the models may learn.
    persona_family_ties: Levels = (0.0, 0.0, 0.0, 0.0)
    # Chance the account lives on a child's daily and weekly rhythm. Every event follows
    # the rhythm of the persona presented: adults' for L0/L1, the asserted child's for a
    # persona that keeps it; a part-built L2 persona slips back to its own adult hours
    # half the time (the one deliberate deviation, a knob like the others).
    persona_minor_schedule: Levels = (0.0, 0.0, 0.5, 1.0)
    # Offender behaviour per level L0..L3 (paper 8.1.1). Children contacted
    # per offender, the median and sigma of a lognormal: ~100 for L0 (paper 8.1.1), tens for
    # L1, ~4 (1-12) for L2/L3 (Kloess et al. 2019: 1-12, mean 4.6, police cases, n=5).
    targets_median: Levels = (100.0, 12.0, 4.0, 4.0)
    targets_sigma: Levels = (0.3, 0.8, 0.6, 0.6)
    # Where the targets come from. `local_targets`: share drawn from the offender's own
    # region, the rest platform-wide. The cartoon sprays the platform, the opportunist looks
    # close to home half the time, a persona lives in a child community of its region
    # (paper 8.1.1: "close to home"; the shares are choices, no measurement exists).
    local_targets: Levels = (0.0, 0.5, 1.0, 1.0)
    # `circle_targets`: share drawn from the offender's own circle instead, a child it is
    # already friends with or, with chance `circle_second_hop`, a friend's friend (mutual
    # friends). A circle draw that finds no real child falls back to the pool above. Only the
    # competent persona grooms inside its circle (paper 7.2.6: "convince a small number of
    # neighbours that they are the same"; 8.1.1); the shares are choices.
    circle_targets: Levels = (0.0, 0.0, 0.0, 1.0)
    circle_second_hop: float = Field(0.5, ge=0.0, le=1.0)
    # Mean share of first contacts made by a direct message instead of a contact request.
    # Each offender has a habit (a U-shaped Beta around this mean): some only message, some
    # only send requests. The cartoon offender only sends requests (paper 8.1.1).
    direct_first: Levels = (0.0, 0.5, 0.5, 0.5)
    # Hours from engagement to sexual content, the image exchange (median of a lognormal):
    # minutes to hours for direct, hyper-sexual offenders (L0/L1), days to weeks for
    # intimacy seekers (L2/L3) (Webster et al. 2012; Kloess et al. 2019).
    rapport_hours: Levels = (1.0, 6.0, 240.0, 432.0)
    # Messages exchanged before the ask (Poisson mean, plus one): a choice on the scale of
    # this platform's close friendships, not a measurement.
    rapport_messages: Levels = (6.0, 8.0, 15.0, 20.0)
    # Chance the pair moves off-platform before any image is sent on it, which makes that
    # harm invisible to the platform: L3 does once trust is built (paper 8.1.2).
    off_platform_before_image: Levels = (0.0, 0.05, 0.2, 0.5)
    # Share of L0 cartoon accounts on an anonymiser (Tor) (paper 8.1.1: "a new account over
    # Tor"; the share below 1 is a choice, not a measurement).
    cartoon_anonymizer: float = Field(0.85, ge=0.0, le=1.0)
    # Account age in days before the window, [low, high): a part-built L2 persona is weeks
    # to months old, a competent L3 persona was built one to four years ago (paper 7.2.6,
    # 8.1.1: "a long-built child persona"; the ranges are choices, not measurements).
    persona_account_age_days: tuple[int, int] = (30, 300)
    competent_account_age_days: tuple[int, int] = (365, 1500)

    @model_validator(mode="after")
    def _mix(self) -> HarmConfig:
        _check_mix(self.sophistication_mix, "harm")
        for name, lo, hi, closed in _LEVEL_RANGES:
            if any(not lo <= v <= hi or (v == lo and not closed) for v in getattr(self, name)):
                raise ValueError(f"harm.{name}: four values (L0..L3) in {'[' if closed else '('}{lo:g}, {hi:g}]")
        for name in ("persona_account_age_days", "competent_account_age_days"):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi <= MAX_ACCOUNT_AGE_DAYS:
                raise ValueError(f"harm.{name}: [low, high) days with 0 <= low < high <= {MAX_ACCOUNT_AGE_DAYS}")
        return self


class DriftConfig(_Strict):
    """An optional second period for train-on-period-1, test-on-period-2 evaluation.

    Tradecraft evolves, often invisibly until a report or an arrest reveals it (paper
    7.2.4): in period 2 the groomer mix shifts toward L2/L3 and offenders move what they
    control (profile, account age, anonymiser, how many children they cold-contact)
    toward the benign distribution. `adaptation` 0 keeps period-1 behaviour, 1 is fully
    benign-looking on those features."""

    enabled: bool = False
    period2_share: float = Field(0.5, gt=0.0, lt=1.0)
    sophistication_mix: tuple[float, float, float, float] = (0.05, 0.25, 0.35, 0.35)
    adaptation: float = Field(0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _mix(self) -> DriftConfig:
        _check_mix(self.sophistication_mix, "drift")
        return self


class LabelConfig(_Strict):
    # Probability that a weak label is flipped: the weak-label noise knob (paper 7.2.4).
    weak_noise: float = Field(0.1, ge=0.0, le=0.5)
    # Share of rule-silent accounts sampled as weak negatives.
    weak_negative_share: float = Field(0.2, ge=0.0, le=1.0)
    # Human labels: random audits plus review of reported accounts (paper 7.2.5).
    audit_share: float = Field(0.03, ge=0.0, le=1.0)
    report_review_share: float = Field(0.6, ge=0.0, le=1.0)
    reviewer_error: float = Field(0.02, ge=0.0, le=0.5)


class SplitConfig(_Strict):
    train: float = Field(0.6, gt=0.0, lt=1.0)
    val: float = Field(0.2, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _room_for_test(self) -> SplitConfig:
        if self.train + self.val >= 1.0:
            raise ValueError("splits: train + val must leave room for a test split (< 1)")
        return self


class Scenario(_Strict):
    name: str = "custom"
    accounts: int = Field(100_000, ge=200, le=2_000_000_000)
    # Fixed partition size: the unit of seeding and parallelism. Output depends on it,
    # never on the number of workers.
    partition_size: int = Field(50_000, ge=100, le=10_000_000)
    population: PopulationConfig = PopulationConfig()
    graph: GraphConfig = GraphConfig()
    activity: ActivityConfig = ActivityConfig()
    abuse: AbuseConfig = AbuseConfig()
    harm: HarmConfig = HarmConfig()
    drift: DriftConfig = DriftConfig()
    labels: LabelConfig = LabelConfig()
    splits: SplitConfig = SplitConfig()

    @property
    def n_partitions(self) -> int:
        return -(-self.accounts // self.partition_size)

    def expected_groomers(self) -> float:
        return self.accounts * self.harm.groomer_rate

    def flat(self) -> dict[str, Any]:
        """Flattened `section.field` view, for tracking params and dataset cards."""
        out: dict[str, Any] = {}
        for key, value in self.model_dump().items():
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out


def _format_validation(err: ValidationError, origin: str) -> str:
    lines = [f"invalid scenario ({origin}):"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"  field '{loc}': {e['msg']}")
    return "\n".join(lines)


def scenario_from_dict(data: Any, origin: str) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{origin}: expected a mapping of scenario fields at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_format_validation(err, origin)) from None


def _read_yaml(text: str, origin: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(f"{origin}: malformed YAML: {err}") from None


def load_scenario(name_or_path: str, accounts: int | None = None) -> Scenario:
    """Resolve a built-in preset name or a YAML path, then apply the `--accounts` override."""
    if name_or_path in PRESETS:
        text = resources.files("data_gen").joinpath(f"scenarios/{name_or_path}.yaml").read_text()
        origin = f"preset '{name_or_path}'"
    else:
        path = Path(name_or_path)
        if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
            raise ScenarioError(
                f"scenario '{name_or_path}': not a preset ({', '.join(PRESETS)}) and not an existing .yaml/.yml file"
            )
        text, origin = path.read_text(), str(path)
    data = _read_yaml(text, origin)
    if data is None:
        data = {}
    if accounts is not None and isinstance(data, dict):
        data = {**data, "accounts": accounts}
    return scenario_from_dict(data, origin)
