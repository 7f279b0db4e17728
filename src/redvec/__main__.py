from redvec._entry import main

main()
