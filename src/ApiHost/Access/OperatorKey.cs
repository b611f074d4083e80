using System.Security.Cryptography;
using System.Text;

namespace Catalogs.ApiHost.Access;

/// <summary>
/// The operator's key: <c>Access:OperatorKey</c> or <c>CATALOGS_OPERATOR_KEY</c>. Outside Development the host
/// refuses to start without one. In Development a key is generated on first start into
/// <c>{DataPath}/operator-key</c> (readable by its owner only) and its path is logged, so the README's run command
/// needs nothing else.
/// </summary>
public sealed class OperatorKey(string value)
{
    public string Value { get; } = value;

    readonly byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(value));

    /// <summary>Whether <paramref name="key"/> is this key, in time independent of where they differ.</summary>
    public bool Matches(string key) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(key)), hash);

    public static OperatorKey Resolve(IConfiguration configuration, IHostEnvironment environment,
        Action<string> log)
    {
        var configured = configuration[$"{AccessOptions.Section}:OperatorKey"]
            ?? Environment.GetEnvironmentVariable("CATALOGS_OPERATOR_KEY");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured.Length >= 32
                ? new OperatorKey(configured)
                : throw new InvalidOperationException("The operator key is too short: use 32 characters or more.");
        }
        if (!environment.IsDevelopment())
            throw new InvalidOperationException("No operator key: set Access:OperatorKey (Access__OperatorKey) or " +
                "CATALOGS_OPERATOR_KEY to a secret of 32 characters or more. Only Development generates one.");
        var path = Path.GetFullPath(Path.Combine(configuration["Catalogs:DataPath"] ?? "./data", "operator-key"));
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var file = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) file.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var writer = new StreamWriter(new FileStream(path, file))) writer.Write(ApiKeys.NewOperatorKey());
            log($"Generated an operator key (Development) in {path}");
        }
        else log($"Operator key (Development): {path}");
        return new OperatorKey(File.ReadAllText(path).Trim());
    }
}
