from redvec.cli import main

main()
