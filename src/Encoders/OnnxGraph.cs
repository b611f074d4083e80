using Google.Protobuf;

namespace Catalogs.Encoders;

/// <summary>
/// Reads and edits an ONNX model at the protobuf wire level (no generated classes needed): lists the tensors the
/// graph produces, reads small initializers (quantization scales and zero points), and appends graph outputs so that
/// any intermediate tensor can be fetched by ONNX Runtime.
/// </summary>
/// <remarks>Field numbers from onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, initializer = 5, input = 11,
/// output = 12, value_info = 13; NodeProto.input = 1, output = 2, op_type = 4; TensorProto.dims = 1, data_type = 2,
/// float_data = 4, int32_data = 5, name = 8, raw_data = 9; ValueInfoProto.name = 1.</remarks>
public sealed class OnnxGraph
{
    const int ModelGraph = 7, GraphNode = 1, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12;

    readonly byte[] model;
    readonly ByteString graph;
    readonly Dictionary<string, ByteString> initializers = new(StringComparer.Ordinal);

    /// <summary>Tensor name → op type of the node that produces it.</summary>
    public IReadOnlyDictionary<string, string> ProducedBy { get; }
    public IReadOnlyList<string> Inputs { get; }
    public IReadOnlyList<string> Outputs { get; }

    public OnnxGraph(byte[] modelBytes)
    {
        model = modelBytes;
        graph = Fields(ByteString.CopyFrom(modelBytes)).Where(f => f.Number == ModelGraph).Select(f =>
            f.Bytes).LastOrDefault()
            ?? throw new InvalidDataException("The file is not an ONNX model: it has no graph.");
        var produced = new Dictionary<string, string>(StringComparer.Ordinal);
        var inputs = new List<string>();
        var outputs = new List<string>();
        foreach (var field in Fields(graph))
        {
            switch (field.Number)
            {
                case GraphNode:
                    var nodeFields = Fields(field.Bytes).ToList();
                    var op = nodeFields.Where(f => f.Number == 4).Select(f => f.Bytes.ToStringUtf8()).FirstOrDefault()
                        ?? "";
                    foreach (var o in nodeFields.Where(f => f.Number == 2)) produced[o.Bytes.ToStringUtf8()] = op;
                    break;
                case GraphInitializer:
                    var name = Fields(field.Bytes).Where(f => f.Number == 8).Select(f =>
                        f.Bytes.ToStringUtf8()).FirstOrDefault();
                    if (name is not null) initializers[name] = field.Bytes;
                    break;
                case GraphInput:
                    inputs.Add(NameOf(field.Bytes));
                    break;
                case GraphOutput:
                    outputs.Add(NameOf(field.Bytes));
                    break;
            }
        }
        ProducedBy = produced;
        Inputs = inputs.Where(i => !initializers.ContainsKey(i)).ToList();
        Outputs = outputs;
    }

    public bool HasTensor(string name) => ProducedBy.ContainsKey(name) || initializers.ContainsKey(name)
        || Inputs.Contains(name);

    public bool HasInitializer(string name) => initializers.ContainsKey(name);

    /// <summary>The model with <paramref name="tensorNames"/> added to the graph outputs (those already outputs are
    /// skipped).</summary>
    public byte[] WithOutputs(IEnumerable<string> tensorNames)
    {
        var extra = tensorNames.Where(n => !Outputs.Contains(n)).Distinct().ToList();
        if (extra.Count == 0) return model;
        using var graphStream = new MemoryStream();
        graphStream.Write(graph.Span); // appending fields to a message's bytes adds them to the message
        var graphOut = new CodedOutputStream(graphStream);
        foreach (var name in extra)
        {
            using var info = new MemoryStream();
            var infoOut = new CodedOutputStream(info);
            infoOut.WriteTag(1, WireFormat.WireType.LengthDelimited);
            infoOut.WriteString(name);
            infoOut.Flush();
            graphOut.WriteTag(GraphOutput, WireFormat.WireType.LengthDelimited);
            graphOut.WriteBytes(ByteString.CopyFrom(info.ToArray()));
        }
        graphOut.Flush();

        using var modelStream = new MemoryStream();
        var modelOut = new CodedOutputStream(modelStream);
        var input = new CodedInputStream(model);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int number = WireFormat.GetTagFieldNumber(tag);
            if (number == ModelGraph && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                input.ReadBytes(); // replaced below
                continue;
            }
            modelOut.WriteTag(tag);
            CopyValue(input, modelOut, tag);
        }
        modelOut.WriteTag(ModelGraph, WireFormat.WireType.LengthDelimited);
        modelOut.WriteBytes(ByteString.CopyFrom(graphStream.ToArray()));
        modelOut.Flush();
        return modelStream.ToArray();
    }

    /// <summary>The values of a scalar or small initializer as doubles (float, uint8, int8, int32 and int64
    /// tensors).</summary>
    public double[] ReadInitializer(string name)
    {
        if (!initializers.TryGetValue(name, out var tensor))
            throw new KeyNotFoundException($"The graph has no initializer '{name}'.");
        int dataType = 0;
        ByteString? raw = null;
        var floats = new List<double>();
        var ints = new List<double>();
        foreach (var f in Fields(tensor))
        {
            switch (f.Number)
            {
                case 2: dataType = (int)f.Varint; break;
                case 9: raw = f.Bytes; break;
                case 4:
                    if (f.Bytes is { } packedFloats)
                    {
                        var s = packedFloats.Span;
                        for (int i = 0; i + 4 <= s.Length; i += 4) floats.Add(BitConverter.ToSingle(s.Slice(i, 4)));
                    }
                    else floats.Add(BitConverter.Int32BitsToSingle((int)f.Varint));
                    break;
                case 5:
                    if (f.Bytes is { } packedInts)
                    {
                        var ci = new CodedInputStream(packedInts.ToByteArray());
                        while (!ci.IsAtEnd) ints.Add(ci.ReadInt32());
                    }
                    else ints.Add((int)f.Varint);
                    break;
            }
        }
        if (raw is not null)
        {
            var s = raw.ToByteArray();
            return dataType switch
            {
                1 => Enumerable.Range(0, s.Length / 4).Select(i => (double)BitConverter.ToSingle(s, i * 4)).ToArray(),
                2 => s.Select(b => (double)b).ToArray(),
                3 => s.Select(b => (double)(sbyte)b).ToArray(),
                6 => Enumerable.Range(0, s.Length / 4).Select(i => (double)BitConverter.ToInt32(s, i * 4)).ToArray(),
                7 => Enumerable.Range(0, s.Length / 8).Select(i => (double)BitConverter.ToInt64(s, i * 8)).ToArray(),
                11 => Enumerable.Range(0, s.Length / 8).Select(i => BitConverter.ToDouble(s, i * 8)).ToArray(),
                _ => throw new NotSupportedException($"Initializer '{name}' has ONNX data type {dataType}, which is " +
                    $"not read here."),
            };
        }
        return floats.Count > 0 ? floats.ToArray() : ints.ToArray();
    }

    static string NameOf(ByteString valueInfo) =>
        Fields(valueInfo).Where(f => f.Number == 1).Select(f => f.Bytes.ToStringUtf8()).FirstOrDefault() ?? "";

    readonly record struct Field(int Number, ByteString Bytes, ulong Varint);

    static IEnumerable<Field> Fields(ByteString message)
    {
        var input = new CodedInputStream(message.ToByteArray());
        var list = new List<Field>();
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            int number = WireFormat.GetTagFieldNumber(tag);
            switch (WireFormat.GetTagWireType(tag))
            {
                case WireFormat.WireType.Varint: list.Add(new Field(number, null!, input.ReadUInt64())); break;
                case WireFormat.WireType.LengthDelimited: list.Add(new Field(number, input.ReadBytes(), 0)); break;
                case WireFormat.WireType.Fixed32: list.Add(new Field(number, null!, input.ReadFixed32())); break;
                case WireFormat.WireType.Fixed64: list.Add(new Field(number, null!, input.ReadFixed64())); break;
                default: input.SkipLastField(); break;
            }
        }
        return list;
    }

    static void CopyValue(CodedInputStream input, CodedOutputStream output, uint tag)
    {
        switch (WireFormat.GetTagWireType(tag))
        {
            case WireFormat.WireType.Varint: output.WriteUInt64(input.ReadUInt64()); break;
            case WireFormat.WireType.LengthDelimited: output.WriteBytes(input.ReadBytes()); break;
            case WireFormat.WireType.Fixed32: output.WriteFixed32(input.ReadFixed32()); break;
            case WireFormat.WireType.Fixed64: output.WriteFixed64(input.ReadFixed64()); break;
            default: throw new InvalidDataException("Unsupported protobuf wire type in the model.");
        }
    }
}
