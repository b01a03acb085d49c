"""The calculator: exact integer arithmetic (whole units times whole mg CO2e per unit),
one rounding, half up, of the total to whole kilograms. Worked examples by hand."""

import pytest

from registry import reference
from registry.domain.checks import CheckCode, Rejection
from registry.domain.emissions import (
    ITEM_UNITS,
    Factor,
    FactorTable,
    FuelUse,
    MeetingInputs,
    TravelLeg,
    calculate,
    kg_text,
    validate_factor_table,
)

TABLE = reference.emission_factors()


def test_the_shipped_table_converts_exactly_to_whole_milligrams() -> None:
    assert TABLE.version == "tokyo62-meetings-v1"
    assert {f.item: f.mg_per_unit for f in TABLE.factors} == {
        "electricity": 375_000,  # 0.375 kg-CO2/kWh
        "rail": 22_000,
        "bus": 51_000,
        "car": 165_000,
        "air": 111_000,
        "paper": 1_400_000,
        "waste": 340_000,
        "kerosene": 2_490_000,
        "city_gas": 2_230_000,
        "lpg": 3_000_000,
    }
    assert all(f.source and f.unit == ITEM_UNITS[f.item] for f in TABLE.factors)
    validate_factor_table(TABLE.version, TABLE.factors)  # what the scenario registers


def test_worked_example_by_hand() -> None:
    inputs = MeetingInputs(
        electricity_kwh=120,  # 120 x 375,000 mg = 45,000,000 mg
        travel=(
            TravelLeg("rail", 100, 20),  # 2,000 pkm x 22,000 = 44,000,000
            TravelLeg("bus", 30, 10),  # 300 pkm x 51,000 = 15,300,000
            TravelLeg("car", 5, 20),  # 100 pkm x 165,000 = 16,500,000
        ),
        paper_kg=5,  # 5 x 1,400,000 = 7,000,000
        waste_kg=10,  # 10 x 340,000 = 3,400,000
        heating=(FuelUse("kerosene", 20),),  # 20 x 2,490,000 = 49,800,000
    )
    result = calculate(inputs, TABLE)
    # 45 + 44 + 15.3 + 16.5 + 7 + 3.4 + 49.8 = 181.0 kg
    assert result.exact_mg == 181_000_000
    assert result.total_kg == 181
    assert result.table_version == "tokyo62-meetings-v1"
    assert [line.item for line in result.lines] == [
        "electricity",
        "rail",
        "bus",
        "car",
        "paper",
        "waste",
        "kerosene",
    ]
    assert "electricity 120 kWh x 375000 mg" in result.basis()
    assert result.basis().endswith("= 181.000000 kg -> 181 kg")


def test_rounding_is_half_up_once_on_the_total() -> None:
    def kg(inputs: MeetingInputs) -> int:
        return calculate(inputs, TABLE).total_kg

    # 1 kWh = 0.375 kg -> 0 kg; 4 kWh = 1.5 kg -> 2 kg (half up, not to even)
    assert kg(MeetingInputs(electricity_kwh=1)) == 0
    assert kg(MeetingInputs(electricity_kwh=4)) == 2
    # 12 kWh = 4.5 kg -> 5 kg (half up; banker's rounding would give 4)
    assert kg(MeetingInputs(electricity_kwh=12)) == 5
    # City gas 10 m3 = 22.3 kg and LPG 1 kg = 3.0 kg -> 25.3 kg -> 25 kg
    assert kg(MeetingInputs(heating=(FuelUse("city_gas", 10), FuelUse("lpg", 1)))) == 25
    # Once, on the total: 3 x (1 kWh = 0.375 kg) rounded each would be 0; 1.125 kg -> 1 kg
    assert kg(MeetingInputs(electricity_kwh=3)) == 1
    # 0.499999 kg stays 0: 22,000 mg x 22 pkm = 0.484 kg
    assert kg(MeetingInputs(travel=(TravelLeg("rail", 1, 22),))) == 0


def test_same_inputs_same_result_and_large_figures_stay_exact() -> None:
    inputs = MeetingInputs(electricity_kwh=333, travel=(TravelLeg("air", 9, 1234),))
    assert calculate(inputs, TABLE) == calculate(inputs, TABLE)
    # air 11,106 pkm x 111,000 = 1,232,766,000; electricity 333 x 375,000 = 124,875,000
    # = 1,357,641,000 mg = 1,357.641 kg -> 1,358 kg
    assert calculate(inputs, TABLE).exact_mg == 1_357_641_000
    assert calculate(inputs, TABLE).total_kg == 1_358
    huge = MeetingInputs(electricity_kwh=10**9, travel=(TravelLeg("air", 10**9, 10**9),))
    # 10^18 pkm x 111,000 mg + 10^9 kWh x 375,000 mg: no float ever rounds it
    assert calculate(huge, TABLE).exact_mg == 111_000 * 10**18 + 375_000 * 10**9
    assert kg_text(1_500_001) == "1.500001"


@pytest.mark.parametrize(
    "inputs, code",
    [
        (MeetingInputs(electricity_kwh=-1), CheckCode.INVALID_CALCULATION_INPUTS),
        (MeetingInputs(travel=(TravelLeg("ship", 1, 1),)), CheckCode.INVALID_CALCULATION_INPUTS),
        (
            MeetingInputs(travel=(TravelLeg("rail", 1, 10**9 + 1),)),
            CheckCode.INVALID_CALCULATION_INPUTS,
        ),
        (MeetingInputs(heating=(FuelUse("coal", 1),)), CheckCode.INVALID_CALCULATION_INPUTS),
    ],
)
def test_invalid_inputs_are_refused(inputs: MeetingInputs, code: CheckCode) -> None:
    with pytest.raises(Rejection) as caught:
        calculate(inputs, TABLE)
    assert caught.value.code is code


def test_a_missing_factor_is_refused_and_unused_items_need_none() -> None:
    only_power = FactorTable("power-only", (Factor("electricity", "kWh", 400_000, "test"),))
    assert calculate(MeetingInputs(electricity_kwh=10), only_power).total_kg == 4
    with pytest.raises(Rejection) as caught:
        calculate(MeetingInputs(electricity_kwh=10, paper_kg=1), only_power)
    assert caught.value.code is CheckCode.MISSING_FACTOR


@pytest.mark.parametrize(
    "factors",
    [
        (),
        (Factor("electricity", "kWh", 0, "zero"),),
        (Factor("electricity", "MWh", 1, "wrong unit"),),
        (Factor("steam", "kg", 1, "unknown item"),),
        (Factor("paper", "kg", 1, "once"), Factor("paper", "kg", 2, "twice")),
    ],
)
def test_factor_tables_state_known_items_in_their_units(factors: tuple[Factor, ...]) -> None:
    with pytest.raises(Rejection) as caught:
        validate_factor_table("v1", factors)
    assert caught.value.code is CheckCode.INVALID_FACTOR
