// catalogs-vertex: dotnet run --project src/VertexCli -- create-index --parent projects/P/locations/L --display-name
// fashion --catalog-url http://localhost:5080/v1/catalogs/fashion
return await Catalogs.VertexCli.VertexCommands.RunAsync(args, Console.Out);
