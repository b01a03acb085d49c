"""Read models built from the event stream (balances, holdings, retirements, the 62-party
allocation). The stream consumers and their SQL tables arrive with the projections work;
until then the write side's ledger answers balance queries directly."""
