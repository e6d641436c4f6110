"""The price table (each price with its evidence, unknown where unconfirmed) and the pure cost
estimate, per kind of price: per image, per megapixel, per second of video and of audio, per
million tokens, per run, by hardware time, by an input's tier, and unknown."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from neurolink_ui.catalog import load_catalog, retired_models
from neurolink_ui.catalog.prices import (
    ByHardware,
    ByInput,
    Hardware,
    ModelPrice,
    PerImage,
    PerMegapixel,
    PerOutputSecond,
    PerRun,
    PerTokens,
    UnknownRate,
    load_prices,
    parse_prices,
    price_of,
)
from neurolink_ui.costs import (
    CostEstimate,
    RunUsage,
    SessionCosts,
    cost_text,
    estimate_cost,
    format_usd,
    recorded_cost_text,
)

PRICES = Path(__file__).resolve().parents[2] / "neurolink_ui" / "catalog" / "prices.json"
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
L40S = {"gpu-l40s": Hardware("gpu-l40s", "Nvidia L40S GPU", 0.000975)}


# ---- the table ---------------------------------------------------------------------------------


def test_every_catalogued_model_has_a_price_or_says_why_not() -> None:
    """Each entry is a price with evidence or says why there is none; a model the file does
    not name yet (one added since) is priced as unknown, never guessed."""
    table = load_prices()
    catalogued = {m.model for m in load_catalog()}
    for ref in catalogued - set(table.models):
        assert not price_of(ref).known
    known = {m.model for m in retired_models()} | catalogued
    assert set(table.models) <= known, "prices.json names a model the catalogue does not"
    for ref, price in table.models.items():
        if price.known:
            assert price.evidence, f"{ref}: a price without evidence"
        elif isinstance(price.rate, UnknownRate):
            assert price.rate.why, ref
        else:
            assert isinstance(price.rate, ByHardware) and price.rate.why, ref


def test_each_piece_of_evidence_says_when_it_was_read_and_how_old_it_is() -> None:
    data = json.loads(PRICES.read_text())
    entries = [*data["hardware"]["evidence"]]
    for item in data["models"].values():
        entries.extend(item["evidence"])
    assert entries
    for entry in entries:
        assert DATE.fullmatch(entry["read"]) and entry["source"] and entry["note"]
        assert "dated" in entry  # the evidence's own date: a date, or null when it has none
        assert entry["dated"] is None or DATE.fullmatch(entry["dated"])


def test_confirmed_prices_match_their_evidence() -> None:
    assert price_of("black-forest-labs/flux-schnell").rate == PerImage(0.003)
    assert price_of("black-forest-labs/flux-1.1-pro:abc").rate == PerImage(0.04)  # version ignored
    assert price_of("deepseek-ai/deepseek-r1").rate == PerTokens(3.75, 10.0)
    assert price_of("meta/meta-llama-3-70b-instruct").rate == PerTokens(0.65, 2.75)
    hardware = load_prices().hardware
    assert hardware["gpu-l40s"].usd_per_second == 0.000975
    assert hardware["gpu-t4"].usd_per_second == 0.000225
    assert hardware["gpu-a100-large"].usd_per_second == 0.0014


def test_unconfirmed_prices_are_typed_unknown_never_a_number() -> None:
    veo = price_of("google/veo-3.1")
    assert isinstance(veo.rate, UnknownRate) and not veo.known and "not found" in veo.rate.why
    musicgen = price_of("meta/musicgen")  # community: billed by hardware it does not know
    assert musicgen.rate == ByHardware(None, musicgen.rate.why) and not musicgen.known  # type: ignore[union-attr]
    stranger = price_of("someone/new-model", official=False)
    assert isinstance(stranger.rate, ByHardware) and stranger.rate.sku is None
    assert isinstance(price_of("someone/official-thing", official=True).rate, UnknownRate)


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"price": {"per": "image", "usd": 0.01}, "evidence": []}, "needs at least one evidence"),
        ({"price": {"per": "image", "usd": -1}, "evidence": []}, "finite number >= 0"),
        ({"price": {"per": "unknown"}, "evidence": []}, "must say why"),
        ({"price": {"per": "hardware", "sku": "gpu-none"}, "evidence": []}, "not in the hardware"),
        ({"price": {"per": "dozen"}, "evidence": []}, "per must be"),
    ],
)
def test_a_malformed_price_fails_loudly(entry: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_prices({"hardware": {"skus": {}}, "models": {"o/m": entry}})


# ---- the estimate, per kind of price -----------------------------------------------------------


def test_per_image() -> None:
    cost = estimate_cost(PerImage(0.003), RunUsage(images=4))
    assert cost.usd == pytest.approx(0.012) and cost.basis == "4 images × $0.003"
    assert not estimate_cost(PerImage(0.003), RunUsage()).known


def test_per_megapixel() -> None:
    cost = estimate_cost(PerMegapixel(0.015), RunUsage(images=2, megapixels=2.0))
    assert cost.usd == pytest.approx(0.03) and "2 MP" in cost.basis


@pytest.mark.parametrize("media", ["video", "audio"])
def test_per_second_of_output(media: str) -> None:
    rate = PerOutputSecond(0.1, media)  # type: ignore[arg-type]
    cost = estimate_cost(rate, RunUsage(output_seconds=5.04))
    assert cost.usd == pytest.approx(0.504) and f"5 s of {media} × $0.10/s" == cost.basis
    missing = estimate_cost(rate, RunUsage(images=1))
    assert missing.usd is None and f"length of the {media}" in missing.basis


def test_per_million_tokens() -> None:
    cost = estimate_cost(PerTokens(0.65, 2.75), RunUsage(input_tokens=1000, output_tokens=2000))
    assert cost.usd == pytest.approx((1000 * 0.65 + 2000 * 2.75) / 1e6)
    assert "1,000 tokens in" in cost.basis and "2,000 out" in cost.basis
    assert not estimate_cost(PerTokens(1, 1), RunUsage(input_tokens=3)).known


def test_per_run() -> None:
    assert estimate_cost(PerRun(0.5), RunUsage()).usd == 0.5


def test_by_hardware_time() -> None:
    cost = estimate_cost(ByHardware("gpu-l40s"), RunUsage(predict_time=12.0), L40S)
    assert cost.usd == pytest.approx(12 * 0.000975)
    assert cost.basis == "12.0 s on Nvidia L40S GPU × $0.000975/s"
    assert not estimate_cost(ByHardware("gpu-l40s"), RunUsage(), L40S).known  # no predict time
    assert not estimate_cost(ByHardware("gpu-h200"), RunUsage(predict_time=1), L40S).known
    unknown = estimate_cost(ByHardware(None, "hardware not found"), RunUsage(predict_time=1), L40S)
    assert unknown.usd is None and unknown.basis == "hardware not found"


def test_by_an_inputs_tier() -> None:
    rate = ByInput(
        "resolution",
        {"720p": PerOutputSecond(0.1, "video"), "1080p": PerOutputSecond(0.15, "video")},
        default="1080p",
    )
    sent = estimate_cost(rate, RunUsage(output_seconds=4, input={"resolution": "720p"}))
    assert sent.usd == pytest.approx(0.4) and sent.basis.startswith("resolution 720p:")
    default = estimate_cost(rate, RunUsage(output_seconds=4))
    assert default.usd == pytest.approx(0.6)
    assert not estimate_cost(rate, RunUsage(output_seconds=4, input={"resolution": "4K"})).known


def test_unknown_says_why() -> None:
    cost = estimate_cost(UnknownRate("no price found"), RunUsage(images=1))
    assert cost == CostEstimate(None, "no price found") and cost.micros is None
    assert cost_text(cost) == "cost unknown"


def test_micro_dollars_round_up_never_down() -> None:
    assert CostEstimate(0.003, "").micros == 3000
    assert CostEstimate(0.0000001, "").micros == 1
    assert CostEstimate(0.0, "").micros == 0


@pytest.mark.parametrize(
    ("usd", "shown"),
    [(1.25, "$1.25"), (0.04, "$0.04"), (0.003, "$0.003"), (0.0000525, "$0.000053"),
     (1234.5, "$1,234.50"), (0.0, "$0"), (0.0000001, "<$0.000001")],
)  # fmt: skip
def test_money_as_a_person_reads_it(usd: float, shown: str) -> None:
    assert format_usd(usd) == shown


def test_session_totals_keep_billed_and_simulated_apart() -> None:
    costs = SessionCosts()
    costs.add(CostEstimate(0.003, ""), simulated=False)
    costs.add(CostEstimate(0.04, ""), simulated=False)
    costs.add(CostEstimate(None, "no price"), simulated=False)
    costs.add(CostEstimate(0.5, ""), simulated=True)
    assert costs.text(simulated=False) == "session ≈ $0.043 + 1 run of unknown cost"
    assert costs.text(simulated=True) == "session (simulated) ≈ $0.50"
    assert cost_text(CostEstimate(0.5, ""), simulated=True) == "≈ $0.50 on Replicate"


def test_a_result_kept_before_costs_shows_none() -> None:
    assert recorded_cost_text(None, "") == ""
    assert recorded_cost_text(None, "no price") == "cost unknown"
    assert recorded_cost_text(0.04, "1 image × $0.04") == "≈ $0.04"


def test_model_price_known() -> None:
    assert ModelPrice("o/m", PerImage(1.0)).known
    assert not ModelPrice("o/m", ByHardware(None, "x")).known
