from decimal import Decimal

from registry import reference
from registry.domain.emissions import MeetingInputs, calculate

TABLE = reference.emission_factors()


def test_every_factor_names_its_source_and_the_table_is_versioned() -> None:
    assert TABLE.version == "tokyo62-meetings-v1"
    assert all(factor.source and factor.kg_per_unit > 0 for factor in TABLE.factors.values())


def test_worked_example_by_hand() -> None:
    inputs = MeetingInputs(
        electricity_kwh=Decimal("120"),  # 120 x 0.375 = 45.000
        travel_passenger_km={"rail": Decimal("2000"), "bus": Decimal("300"), "car": Decimal("100")},
        # rail 2000 x 0.022 = 44.000; bus 300 x 0.051 = 15.300; car 100 x 0.165 = 16.500
        paper_kg=Decimal("5"),  # 5 x 1.4 = 7.0
        waste_kg=Decimal("10"),  # 10 x 0.34 = 3.40
        heating={"kerosene": Decimal("20")},  # 20 x 2.49 = 49.80
    )
    result = calculate(inputs, TABLE)
    # 45 + 44 + 15.3 + 16.5 + 7 + 3.4 + 49.8 = 181.0 kg
    assert result.exact_kg == Decimal("181.000")
    assert result.total_kg == 181
    assert result.table_version == "tokyo62-meetings-v1"
    assert "electricity 120 kWh x 0.375" in result.basis()


def test_rounding_is_half_up_once_on_the_total() -> None:
    # 1 kWh x 0.375 = 0.375 -> 0 kg; 4 kWh = 1.5 kg -> 2 kg (half up, not to even)
    assert calculate(MeetingInputs(electricity_kwh=Decimal(1)), TABLE).total_kg == 0
    assert calculate(MeetingInputs(electricity_kwh=Decimal(4)), TABLE).total_kg == 2
    # City gas 10 m3 x 2.23 = 22.3 and LPG 1 kg x 3.00 = 3.0 -> 25.3 -> 25 kg
    assert (
        calculate(
            MeetingInputs(heating={"city_gas": Decimal(10), "lpg": Decimal(1)}), TABLE
        ).total_kg
        == 25
    )


def test_same_inputs_same_result() -> None:
    inputs = MeetingInputs(
        electricity_kwh=Decimal("333.3"), travel_passenger_km={"air": Decimal("1234.5")}
    )
    assert calculate(inputs, TABLE) == calculate(inputs, TABLE)
    # air 1234.5 x 0.111 = 137.0295; electricity 333.3 x 0.375 = 124.9875; 262.017 -> 262
    assert calculate(inputs, TABLE).total_kg == 262
