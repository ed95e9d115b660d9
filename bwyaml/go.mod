module github.com/breakwater-go/breakwater/bwyaml

go 1.26.0

require github.com/breakwater-go/breakwater v0.1.0

require go.yaml.in/yaml/v3 v3.0.6
