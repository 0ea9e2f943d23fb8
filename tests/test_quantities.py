"""Numbers as quantities: units, words, hedges, bounds and rounding (paracycle.quantities)."""

from __future__ import annotations

import pytest

from paracycle import quantities as Q


def one(text: str, **kw) -> Q.Quantity:
    found = Q.quantities(text, **kw)
    assert len(found) == 1, found
    return found[0]


def backed(claim: str, known: str) -> bool:
    return Q.backs(one(claim), one(known, carry_units=True))


@pytest.mark.parametrize(
    ("claim", "known"),
    [
        ("roughly 78%", "77.7%"),  # a hedge
        ("78%", "77.7%"),  # faithful rounding
        ("under 10 ms", "0.01 s"),  # a unit change and a bound
        ("1,800 m", "1.8 km"),
        ("about three quarters of an hour", "42 minutes"),
        ("four in five", "81%"),
        ("nearly four in five", "78%"),
        ("eighteen", "18"),
        ("half a percent", "0.5%"),
        ("just over three minutes", "192 s"),
        ("263 K", "−10 °C"),
        ("42 cents", "$0.42"),
        ("0.81 of days", "81% of days"),
        ("0.2 V", "200 mV"),
        ("more than 17 machine-days", "412 hours"),
        ("a week and a half", "11 days"),
    ],
)
def test_faithful_restatements_are_backed(claim, known):
    assert backed(claim, known)


@pytest.mark.parametrize(
    ("claim", "known"),
    [
        ("15.08%", "5.08%"),  # inflated
        ("57%", "37%"),
        ("2.4 °C", "1.4 °C"),
        ("2.4", "2 m"),  # a more precise claim is not backed by a rounder number
        ("above 99%", "96.2%"),  # a bound on the wrong side
        ("12 ms", "12 cells"),  # a unit the claim states must be the backing's
        ("40%", "40x"),
        ("3 minutes", "90 s"),
    ],
)
def test_wrong_numbers_are_not_backed(claim, known):
    assert not backed(claim, known)


def test_structure_is_not_a_result():
    # years, references, citations, clock times and bare single digits
    assert Q.quantities("In 2019 (see Table 2 and [12, 13]) we ran 3 seeds at 15:00.") == []


def test_ranges_share_their_unit():
    low, high = Q.quantities("between 35-50% of the yield")
    assert (low.dim, high.dim) == ("%", "%")
    assert [q.dim for q in Q.quantities("21% of voters aged 18-24 vs. 58%", carry_units=True)] == ["%", "", "", "%"]


def test_a_plain_number_against_a_unit_takes_it_in_the_structure_only():
    text = "0.89 g per gram of catalyst, against 0.94 for uncoated"
    assert [q.dim for q in Q.quantities(text, carry_units=True)] == ["mass", "mass"]
    assert [q.dim for q in Q.quantities(text)] == ["mass", ""]


@pytest.mark.parametrize(
    ("phrase", "ratio", "fits"),
    [
        ("nearly halves", 192 / 101, True),
        ("doubles", 2.1, True),
        ("more than twice as dense", 2.36, True),
        ("more than twice as dense", 1.9, False),
        ("an order of magnitude", 10.5, True),
        ("an order of magnitude", 112 / 41, False),
        ("several times faster", 4.0, True),
        ("several times faster", 2.2, False),
        ("fewer than half as many", 7.4 / 2.9, True),
        ("about nine times faster", 1.9 / 0.21, True),
    ],
)
def test_multiplier_words_fit_the_ratios_they_name(phrase, ratio, fits):
    (m,) = Q.multipliers(phrase)
    assert m.fits(ratio) is fits
    assert m.fits(1 / ratio) is fits  # "halves" and "doubles" name the same factor


def test_counts_are_not_multipliers():
    assert Q.multipliers("we hindcast each flood twice, four times a minute") == []
    assert [q.dim for q in Q.quantities("rerunning each failed test 15 times")] == [""]


def test_ratios_come_from_numbers_set_side_by_side():
    text = "runtime falls from 192 s to 101 s on 310 charging sessions from 25 fleet vehicles"
    ratios = Q.ratios(Q.quantities(text, carry_units=True), text)
    assert any(abs(r - 192 / 101) < 0.01 for r in ratios)
    assert not any(abs(r - 310 / 25) < 0.1 for r in ratios)  # two counts of different things


def test_differences_and_remainders_are_derived():
    text = "212 vs. 246 minutes; freezes fell by 62%"
    qs = Q.quantities(text, carry_units=True)
    derived = Q.derived(qs, text) + Q.complements(qs, text)
    assert any(q.dim == "time" and abs(q.value - 34 * 60) < 1 for q in derived)
    assert any(q.dim == "%" and abs(q.value - 38) < 0.01 for q in derived)
    assert all(q.derived for q in derived)
