"""Forecasts of PV, load and prices: fit on history, predict a horizon at the site's step."""
