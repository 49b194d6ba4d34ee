module iroko_gym/goben

go 1.19
