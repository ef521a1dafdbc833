"""What every Shoa package agrees on and no domain owns: the error base and the clock. Imports no other package."""
