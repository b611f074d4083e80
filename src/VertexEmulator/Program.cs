namespace Catalogs.VertexEmulator;

/// <summary>Local development: <c>dotnet run --project src/VertexEmulator -- --urls http://127.0.0.1:8085</c>, then
/// point
/// Vertex:ApiBase, Vertex:PublicEndpointBase and Vertex:StorageBase at it with Vertex:Anonymous=true.
/// (A named class, not top-level statements, so test projects can reference both this and the ApiHost.)</summary>
public static class EmulatorProgram
{
    public static async Task Main(string[] args) => await EmulatorApp.Build(args).RunAsync();
}
