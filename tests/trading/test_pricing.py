from decimal import Decimal

import pytest

from apps.trading.lei import lei_check_digits, lei_is_valid
from apps.trading.pricing import (
    OptionType,
    PricingError,
    black76,
    discount_factor,
    forward_mtm,
)


def test_forward_mtm_of_a_buyer_is_curve_minus_price_times_volume_discounted():
    # Bought 744 MWh at 80.00; curve 85.50; DF 0.99 -> 5.50 * 744 * 0.99 = 4051.08
    mtm = forward_mtm(
        side=1,
        curve_price=Decimal("85.50"),
        trade_price=Decimal("80.00"),
        volume=Decimal(744),
        df=Decimal("0.99"),
    )
    assert mtm == Decimal("4051.0800")


def test_forward_mtm_of_a_seller_has_the_opposite_sign():
    mtm = forward_mtm(
        side=-1,
        curve_price=Decimal("3.25"),
        trade_price=Decimal("3.00"),
        volume=Decimal(10000),
        df=Decimal(1),
    )
    assert mtm == Decimal("-2500.00")


def test_discount_factor_is_one_for_past_dates_and_exp_minus_rt_otherwise():
    assert discount_factor(Decimal("0.05"), Decimal(-1)) == Decimal(1)
    assert round(discount_factor(Decimal("0.05"), Decimal("0.5")), 10) == Decimal("0.9753099120")


def test_black76_put_matches_hulls_crude_oil_example():
    # Hull, Options, Futures and Other Derivatives: F = K = 20, r = 9%, sigma = 25%,
    # T = 4 months -> put = 1.12.
    value = black76(
        option_type=OptionType.PUT,
        forward=Decimal(20),
        strike=Decimal(20),
        volatility=Decimal("0.25"),
        years=Decimal(4) / Decimal(12),
        rate=Decimal("0.09"),
    )
    assert round(value.price, 2) == Decimal("1.12")


def test_black76_put_call_parity_holds():
    common = {
        "forward": Decimal("62.40"),
        "strike": Decimal("60"),
        "volatility": Decimal("0.35"),
        "years": Decimal("0.75"),
        "rate": Decimal("0.04"),
    }
    call = black76(option_type=OptionType.CALL, **common)
    put = black76(option_type=OptionType.PUT, **common)
    df = discount_factor(Decimal("0.04"), Decimal("0.75"))
    assert abs((call.price - put.price) - df * Decimal("2.40")) < Decimal("1e-9")
    assert abs((call.delta - put.delta) - df) < Decimal("1e-12")
    assert call.vega == put.vega


def test_black76_delta_and_vega_match_finite_differences():
    base = {
        "option_type": OptionType.CALL,
        "strike": Decimal(3),
        "volatility": Decimal("0.6"),
        "years": Decimal("0.5"),
        "rate": Decimal("0.03"),
    }
    h = Decimal("0.0001")
    up = black76(forward=Decimal(3) + h, **base).price
    down = black76(forward=Decimal(3) - h, **base).price
    value = black76(forward=Decimal(3), **base)
    assert abs((up - down) / (2 * h) - value.delta) < Decimal("1e-6")
    vol_up = black76(forward=Decimal(3), **{**base, "volatility": Decimal("0.6001")}).price
    vol_down = black76(forward=Decimal(3), **{**base, "volatility": Decimal("0.5999")}).price
    assert abs((vol_up - vol_down) / Decimal("0.0002") - value.vega) < Decimal("1e-6")


def test_black76_at_expiry_is_intrinsic():
    value = black76(
        option_type=OptionType.CALL,
        forward=Decimal(90),
        strike=Decimal(85),
        volatility=Decimal("0.3"),
        years=Decimal(0),
        rate=Decimal("0.05"),
    )
    assert value.price == Decimal(5)
    assert value.delta == Decimal(1)


def test_black76_refuses_non_positive_forward():
    with pytest.raises(PricingError):
        black76(
            option_type=OptionType.CALL,
            forward=Decimal(0),
            strike=Decimal(1),
            volatility=Decimal("0.2"),
            years=Decimal(1),
            rate=Decimal(0),
        )


@pytest.mark.parametrize(
    "code",
    [
        "5493001KJTIIGC8Y1R12",  # published example LEI
        "7LTWFZYICNSX8D621K86",  # Deutsche Bank AG
        "529900T8BM49AURSDO55",  # Deutsche Börse AG
    ],
)
def test_lei_with_right_check_digits_is_valid(code):
    assert lei_is_valid(code)
    assert lei_check_digits(code[:18]) == code[18:]


@pytest.mark.parametrize(
    "code", ["5493001KJTIIGC8Y1R13", "5493001kjtiigc8y1r12", "5493001KJTIIGC8Y1R1", ""]
)
def test_lei_with_wrong_digits_or_shape_is_invalid(code):
    assert not lei_is_valid(code)
