using Catalogs.VertexEmulator;

// Local development: dotnet run --project src/VertexEmulator -- --urls http://127.0.0.1:8085
// then point Vertex:ApiBase, Vertex:PublicEndpointBase and Vertex:StorageBase at it with Vertex:Anonymous=true.
var app = EmulatorApp.Build(args);
await app.RunAsync();
