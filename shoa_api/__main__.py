from shoa_api.cli import main

main()
